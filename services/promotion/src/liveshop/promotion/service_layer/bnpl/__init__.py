"""Command and event handlers of the promotion service's 先用后付 (BNPL) context (docs/bnpl.md), by aggregate:
:mod:`.merchants` (opening, standing), :mod:`.activities`, :mod:`.buyers` (opening, eligibility, bills),
:mod:`.checkout` (the decision on ``OrderPlaced``), :mod:`.first_order` (the campaign on ``OrderPaid``),
:mod:`.campaigns` (芝麻先用后付立减 and its registrations). Ports: :mod:`.unit_of_work`.

Each handler runs in one unit of work (one transaction): the state change and the events it causes commit
together. Business refusals are data (a decision, a ``Bnpl*Declined`` / ``NotGranted`` event); malformed or
conflicting commands raise the domain's ``BnplError`` (a ``liveshop.shared.errors.DomainError``: the app
factory maps it to HTTP). Decisions driven by order events use the event's own time (``occurred_at``), not
the clock, so replaying the same events gives the same decisions.

Event handlers take ``(uow, envelope, policy)`` (the consumer's handler table,
``entrypoints/bnpl_consumers.py``).
"""

"""先用后付 (buy now, pay after delivery): the promotion service's pure BNPL domain (SPEC section 8).

- :mod:`.opening`: merchant opening (开通) and the good-standing rule;
- :mod:`.products` and :mod:`.activity`: BNPL activities (which products offer BNPL, when);
- :mod:`.eligibility`: the per-buyer eligibility rule, buyer BNPL status, checkout availability;
- :mod:`.campaign`, :mod:`.registration` and :mod:`.draw`: the first-order campaign 芝麻先用后付立减
  (merchant registration, qualification, the auditable draw, the budget);
- :mod:`.policy`: the configurable thresholds in one value (the service's settings build it).

Standard library only. Design note: ``docs/bnpl.md``.
"""

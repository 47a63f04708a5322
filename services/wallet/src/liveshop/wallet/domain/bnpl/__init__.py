"""先用后付 (BNPL): the wallet's pure repayment-bill domain (SPEC section 8).

- :mod:`.bill`: the bill lifecycle after a BNPL payment (CREATED -> NOT_DUE -> DUE -> COLLECTING ->
  COLLECTED, or FAILED -> retries -> OVERDUE; CANCELLED before shipping);
- :mod:`.events`: what happens to a bill (created, due, collection failed, overdue, collected, cancelled);
- :mod:`.reminders`: the reminder schedule and the Chinese service-message texts.

Standard library only. Design note: ``docs/bnpl.md``.
"""

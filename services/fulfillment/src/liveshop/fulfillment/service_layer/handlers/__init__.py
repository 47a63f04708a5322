"""Fulfillment handlers, one module per aggregate:

- :mod:`.reports` ISV reports (both ingress paths), order facts, held-report re-checks;
- :mod:`.shipping` the merchant shipping from the platform and the carrier's delivery;
- :mod:`.isvs` the ISV registry (operators) and the merchants' authorisations.

Every handler takes a store (the unit of work, ``unit_of_work.py``) over one transaction.
"""

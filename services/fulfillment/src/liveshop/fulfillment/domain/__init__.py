"""Fulfillment domain (standard library only).

- ``tracks``: the order's logistics timeline aggregate (``OrderTimeline``), statuses, buyer texts,
  canonical event names.
- ``isv``: ISVs, their credentials, merchants' authorisation periods.
- ``reports``: ISV reports as received (``parse_report``), order facts, the report policy, verdicts.
- ``validation``: the rules behind both ingress paths (``process_report`` / ``validate_report``), holds.
- ``shipping``: the merchant shipping from the platform, carriers' deliveries.
- ``signature``: HMAC-SHA256 request signing of the HTTP path.
- ``errors``: reason codes and exceptions.
"""

"""Fulfillment domain (standard library only).

- ``tracks``: the order's logistics timeline aggregate (``OrderTimeline``), statuses, buyer texts,
  canonical event names.
- ``isv``: ISVs, their credentials, merchants' authorisation periods.
- ``reports``: validation of ISV reports, shared by the Kafka and HTTP ingress paths
  (``process_report`` / ``validate_report``), holds, ``parse_report``.
- ``signature``: HMAC-SHA256 request signing of the HTTP path.
- ``errors``: reason codes and exceptions.
"""

"""先用后付 (BNPL) bounded context of the promotion service (phase 2: persistence, events, HTTP).

Pure rules live in :mod:`liveshop.promotion.domain.bnpl`; this package wires them: ``adapters`` (asyncpg,
tables ``bnpl_*``), ``service_layer``, ``consumers`` (consumer group ``promotion-bnpl``), ``api`` (HTTP ``/bnpl``),
and ``wiring`` (what ``bootstrap.py`` adds). Design: ``docs/bnpl.md``.
"""

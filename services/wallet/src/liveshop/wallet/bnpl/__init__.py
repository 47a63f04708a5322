"""先用后付 (BNPL) repayment bills in the wallet service (phase 2: persistence, events, HTTP, scheduler).

Pure rules live in :mod:`liveshop.wallet.domain.bnpl`; this package wires them: ``adapters`` (asyncpg, tables
``bnpl_*``), ``service_layer``, ``consumers`` (consumer group ``wallet-bnpl``), ``api`` (HTTP ``/bnpl``),
``wiring`` (what ``bootstrap.py`` adds: the router, the API and the collector job). Design: ``docs/bnpl.md``.
"""

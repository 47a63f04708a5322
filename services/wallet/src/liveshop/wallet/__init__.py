"""The wallet service: the double-entry ledger, streamer wallets, red-envelope budgets, simulated payments, the
merchant's secure wallet, channel-fee invoices and the 先用后付 (BNPL) repayment bills.

Built on the service template (docs/RUNTIME.md): ``settings.py``, ``domain/``, ``service_layer/``, ``adapters/``,
``entrypoints/``, ``bootstrap.py``. BNPL is not a sub-package: its modules live in those layers, named ``bnpl*``
(``domain/bnpl/``, ``service_layer/handlers/bnpl_*.py``, ``adapters/bnpl_bills.py``, ``entrypoints/http/bnpl.py``,
the ``wallet-bnpl`` consumer table, the ``bnpl-collector`` job). See services/wallet/README.md.
"""

"""The fulfillment store on PostgreSQL: the report side and the ISV registry over one transaction."""

from __future__ import annotations

from liveshop.fulfillment.adapters.isvs import PgIsvs
from liveshop.fulfillment.adapters.reports import PgReports
from liveshop.fulfillment.adapters.secrets import SecretBox
from liveshop.shared.tx import Transaction


class PgStore(PgReports, PgIsvs):
    """:class:`PgReports` (the ``ReportStore`` / ``ShipmentStore``) and :class:`PgIsvs` on ``tx``."""

    def __init__(self, tx: Transaction, box: SecretBox | None = None) -> None:
        PgReports.__init__(self, tx)
        PgIsvs.__init__(self, tx.conn, box)

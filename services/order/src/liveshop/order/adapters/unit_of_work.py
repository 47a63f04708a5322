"""The PostgreSQL unit of work: every order repository over one :class:`Transaction`."""

from __future__ import annotations

from liveshop.contracts.base import Event
from liveshop.order.adapters.catalog import PgProducts, PgStreamers
from liveshop.order.adapters.idempotency import PgIdempotency
from liveshop.order.adapters.orders import PgOrders, PgRejections
from liveshop.order.adapters.read_models import PgBnpl, PgMessages, PgTracks
from liveshop.order.service_layer.unit_of_work import (
    BnplRepository,
    IdempotencyRepository,
    MessageRepository,
    OrderRepository,
    ProductRepository,
    RejectionRepository,
    StreamerRepository,
    TrackRepository,
)
from liveshop.shared.tx import Transaction


class PgUnitOfWork:
    """The unit of work over one :class:`Transaction` (the caller owns commit / rollback)."""

    def __init__(self, tx: Transaction) -> None:
        self.tx = tx
        self.products: ProductRepository = PgProducts(tx.conn)
        self.streamers: StreamerRepository = PgStreamers(tx.conn)
        self.orders: OrderRepository = PgOrders(tx.conn)
        self.rejections: RejectionRepository = PgRejections(tx.conn)
        self.messages: MessageRepository = PgMessages(tx.conn)
        self.idempotency: IdempotencyRepository = PgIdempotency(tx.conn)
        self.tracks: TrackRepository = PgTracks(tx.conn)
        self.bnpl: BnplRepository = PgBnpl(tx.conn)

    async def publish(self, event: Event) -> None:
        await self.tx.publish(event)

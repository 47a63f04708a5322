-- Order service schema: catalog (products, distribution grants, streamers) and orders (one row per
-- aggregate, with its lines and pricing as jsonb), recorded transition rejections and service messages.

CREATE TABLE products (
    product_id   text PRIMARY KEY,
    merchant_id  text        NOT NULL,
    title        text        NOT NULL,
    price        bigint      NOT NULL CHECK (price > 0),
    product_type text        NOT NULL,
    status       text        NOT NULL,
    version      int         NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL
);
CREATE INDEX products_by_merchant ON products (merchant_id, created_at, product_id);

CREATE TABLE product_distributors (
    product_id  text        NOT NULL REFERENCES products (product_id),
    streamer_id text        NOT NULL,
    granted_at  timestamptz NOT NULL,
    PRIMARY KEY (product_id, streamer_id)
);

CREATE TABLE streamers (
    streamer_id text PRIMARY KEY,
    merchant_id text,
    version     int         NOT NULL,
    updated_at  timestamptz NOT NULL
);

CREATE TABLE orders (
    order_id           text PRIMARY KEY,
    buyer_id           text        NOT NULL,
    merchant_id        text        NOT NULL,
    status             int         NOT NULL CHECK (status IN (10, 30, 40, 50, 70, 80)),
    stage              text,
    payment_method     text        NOT NULL,
    channel            jsonb       NOT NULL,
    voucher_ids        jsonb       NOT NULL,
    lines              jsonb       NOT NULL,
    item_total         bigint      NOT NULL,
    placed_at          timestamptz NOT NULL,
    pay_by             timestamptz NOT NULL,
    pricing            jsonb,
    payment_id         text,
    paid_amount        bigint,
    paid_at            timestamptz,
    shipped_at         timestamptz,
    waybill_no         text,
    delivered_at       timestamptz,
    completed_at       timestamptz,
    completed_by       text,
    closed_at          timestamptz,
    failure_code       text,
    failure_reason     text,
    voucher_rejections jsonb       NOT NULL DEFAULT '[]',
    version            int         NOT NULL,
    updated_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX orders_by_buyer ON orders (buyer_id, placed_at DESC, order_id DESC);
CREATE INDEX orders_unpaid ON orders (pay_by) WHERE status = 10;
CREATE INDEX orders_delivered ON orders (delivered_at) WHERE status = 50;

-- Incoming events that would have moved an order backwards, skipped a step or touched a closed order.
CREATE TABLE order_rejections (
    id              bigserial PRIMARY KEY,
    order_id        text        NOT NULL,
    status          int         NOT NULL,
    attempted       text        NOT NULL,
    reason_code     text        NOT NULL,
    reason          text        NOT NULL,
    source_event_id text        NOT NULL,
    requires_refund boolean     NOT NULL,
    occurred_at     timestamptz NOT NULL,
    recorded_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX order_rejections_by_order ON order_rejections (order_id, id);

-- 服务消息: one per order status change the buyer is told about (dedup_key: at most once).
CREATE TABLE service_messages (
    id          bigserial PRIMARY KEY,
    buyer_id    text        NOT NULL,
    order_id    text        NOT NULL,
    status      int         NOT NULL,
    title       text        NOT NULL,
    body        text        NOT NULL,
    occurred_at timestamptz NOT NULL,
    dedup_key   text        NOT NULL UNIQUE,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX service_messages_by_buyer ON service_messages (buyer_id, id);

CREATE TABLE products (
    product_id           text PRIMARY KEY,
    merchant_id          text        NOT NULL,
    title                text        NOT NULL,
    price                bigint      NOT NULL CHECK (price > 0),
    product_type         text        NOT NULL,
    status               text        NOT NULL,
    distribution_allowed boolean     NOT NULL DEFAULT false,
    version              int         NOT NULL DEFAULT 1,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE orders (
    order_id       text PRIMARY KEY,
    buyer_id       text        NOT NULL,
    merchant_id    text        NOT NULL,
    status         int         NOT NULL,
    stage          text        NOT NULL,
    payment_method text        NOT NULL,
    channel        jsonb       NOT NULL,
    voucher_ids    jsonb       NOT NULL DEFAULT '[]',
    item_total     bigint      NOT NULL,
    funding        jsonb,
    discounts      jsonb       NOT NULL DEFAULT '[]',
    payment_id     text,
    pay_by         timestamptz,
    reason_code    text,
    reason         text,
    placed_at      timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL
);
CREATE INDEX orders_by_buyer ON orders (buyer_id, placed_at DESC);

CREATE TABLE order_lines (
    order_id     text   NOT NULL REFERENCES orders (order_id),
    line_no      int    NOT NULL,
    product_id   text   NOT NULL,
    merchant_id  text   NOT NULL,
    title        text   NOT NULL,
    product_type text   NOT NULL,
    unit_price   bigint NOT NULL,
    quantity     int    NOT NULL CHECK (quantity > 0),
    PRIMARY KEY (order_id, line_no)
);

CREATE TABLE service_messages (
    id         bigserial PRIMARY KEY,
    buyer_id   text        NOT NULL,
    order_id   text        NOT NULL,
    status     int         NOT NULL,
    title      text        NOT NULL,
    body       text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX service_messages_by_buyer ON service_messages (buyer_id, id);

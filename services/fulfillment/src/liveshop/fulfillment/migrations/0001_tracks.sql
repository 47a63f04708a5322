CREATE TABLE orders (
    order_id    text PRIMARY KEY,
    merchant_id text        NOT NULL,
    buyer_id    text        NOT NULL,
    paid_at     timestamptz NOT NULL
);

CREATE TABLE tracks (
    order_id    text        NOT NULL,
    status      text        NOT NULL,
    occurred_at timestamptz NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    request_id  text,
    isv_id      text,
    operator    text,
    waybill_no  text,
    text        text        NOT NULL,
    PRIMARY KEY (order_id, status)
);

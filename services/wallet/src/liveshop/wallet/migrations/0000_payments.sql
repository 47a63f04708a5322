CREATE TABLE payments (
    payment_id  text PRIMARY KEY,
    order_id    text        NOT NULL UNIQUE,
    buyer_id    text        NOT NULL,
    merchant_id text        NOT NULL,
    method      text        NOT NULL,
    amount      bigint      NOT NULL CHECK (amount >= 0),
    status      text        NOT NULL,
    created_at  timestamptz NOT NULL
);

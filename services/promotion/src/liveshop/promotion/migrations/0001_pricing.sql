CREATE TABLE order_pricings (
    order_id   text PRIMARY KEY,
    outcome    text        NOT NULL,
    payable    bigint,
    result     jsonb       NOT NULL,
    priced_at  timestamptz NOT NULL
);

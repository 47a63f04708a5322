-- 先用后付 read models of the order service (domain/bnpl.py), from the promotion service's events:
-- merchants that opened BNPL, the products of confirmed BNPL activities with their windows (product
-- reads say whether 先用后付 is offered right now), and the first-order campaign outcome per order (the
-- order detail shows 芝麻先用后付立减, who funds it and what the buyer pays after delivery).
CREATE TABLE bnpl_merchants (
    merchant_id text PRIMARY KEY,
    opened_at   timestamptz NOT NULL
);

CREATE TABLE bnpl_activity_products (
    activity_id text        NOT NULL,
    product_id  text        NOT NULL,
    merchant_id text        NOT NULL,
    starts_at   timestamptz NOT NULL,
    ends_at     timestamptz,
    ended_at    timestamptz,
    PRIMARY KEY (activity_id, product_id)
);
CREATE INDEX bnpl_activity_products_product ON bnpl_activity_products (product_id);

-- an activity ended before its confirmation was seen (cannot happen on one partition; kept for safety)
CREATE TABLE bnpl_activities_ended (
    activity_id text PRIMARY KEY,
    ended_at    timestamptz NOT NULL
);

CREATE TABLE bnpl_first_order_outcomes (
    order_id    text PRIMARY KEY,
    buyer_id    text        NOT NULL,
    granted     boolean     NOT NULL,
    amount      bigint      NOT NULL CHECK (amount >= 0),
    campaign_id text,
    label       text        NOT NULL,
    funder      text        NOT NULL,
    reason_code text,
    reason      text,
    decided_at  timestamptz NOT NULL
);

-- ISV pre-shipment tracks (SPEC section 6): order facts, ISV registry, authorisations, holds,
-- rejections, buyer service messages.

-- Order facts from the order topic (OrderPaid, OrderCancelled) plus our own shipped / delivered.
-- An order first seen through OrderCancelled was never paid here.
ALTER TABLE orders ALTER COLUMN paid_at DROP NOT NULL;
ALTER TABLE orders ADD COLUMN cancelled_at timestamptz;
ALTER TABLE orders ADD COLUMN shipped_at   timestamptz;
ALTER TABLE orders ADD COLUMN delivered_at timestamptz;

-- One row per (order, status): the primary key is the last guard against a double track.
-- seq gives the order of recording (the domain rebuilds timelines in that order).
ALTER TABLE tracks ADD COLUMN carrier text;
ALTER TABLE tracks ADD COLUMN seq bigserial;
CREATE INDEX tracks_seq ON tracks (seq);

CREATE TABLE isvs (
    isv_id        text PRIMARY KEY,
    name          text        NOT NULL,
    registered_at timestamptz NOT NULL,
    suspended_at  timestamptz
);

-- The secret is needed to verify HMACs, so it cannot be hashed: it is sealed (encrypt-then-MAC,
-- see adapters/secrets.py) with the service's secrets key; the fingerprint is for support.
CREATE TABLE isv_credentials (
    app_key            text PRIMARY KEY,
    isv_id             text        NOT NULL REFERENCES isvs (isv_id),
    secret_fingerprint text        NOT NULL,
    sealed_secret      bytea       NOT NULL,
    issued_at          timestamptz NOT NULL,
    revoked_at         timestamptz
);
CREATE INDEX isv_credentials_isv ON isv_credentials (isv_id);

-- Authorisation periods [granted_at, revoked_at) of an ISV for a merchant's shop.
CREATE TABLE isv_authorisations (
    merchant_id text        NOT NULL,
    isv_id      text        NOT NULL REFERENCES isvs (isv_id),
    granted_at  timestamptz NOT NULL,
    revoked_at  timestamptz,
    PRIMARY KEY (merchant_id, isv_id, granted_at)
);

-- Reports for orders not yet known as paid, re-checked until `until`.
CREATE TABLE held_reports (
    isv_id               text        NOT NULL,
    order_id             text        NOT NULL,
    request_id           text        NOT NULL,
    report               jsonb       NOT NULL,
    authenticated_isv_id text,
    received_at          timestamptz NOT NULL,
    until                timestamptz NOT NULL,
    reason_code          text        NOT NULL,
    checked_at           timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (isv_id, order_id, request_id)
);
CREATE INDEX held_reports_order ON held_reports (order_id);

-- Every rejection sent back to an ISV (also on liveshop.isv.rejections).
CREATE TABLE isv_rejections (
    seq         bigserial PRIMARY KEY,
    isv_id      text        NOT NULL,
    request_id  text,
    order_id    text,
    reason_code text        NOT NULL,
    reason      text        NOT NULL,
    channel     text        NOT NULL,
    rejected_at timestamptz NOT NULL
);
CREATE INDEX isv_rejections_isv ON isv_rejections (isv_id, seq);

-- Buyer service messages (服务消息), one per new track.
CREATE TABLE service_messages (
    seq         bigserial PRIMARY KEY,
    buyer_id    text        NOT NULL,
    order_id    text        NOT NULL,
    status      text        NOT NULL,
    text        text        NOT NULL,
    occurred_at timestamptz NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (order_id, status)
);
CREATE INDEX service_messages_buyer ON service_messages (buyer_id, seq);

-- 先用后付 (BNPL) repayment bills of the wallet service (docs/bnpl.md §4). Every table is bnpl_*.

CREATE TABLE bnpl_bills (
    bill_id                  text PRIMARY KEY,
    order_id                 text NOT NULL UNIQUE,
    buyer_id                 text NOT NULL,
    merchant_id              text NOT NULL,
    goods_amount             bigint NOT NULL CHECK (goods_amount >= 0),
    discounts                jsonb NOT NULL DEFAULT '[]',
    amount_owed              bigint NOT NULL CHECK (amount_owed >= 0),
    status                   text NOT NULL,
    created_at               timestamptz NOT NULL,
    shipped_at               timestamptz,
    delivered_at             timestamptz,
    due_at                   timestamptz,
    next_attempt_at          timestamptz,
    auto_failures            integer NOT NULL DEFAULT 0,
    overdue_at               timestamptz,
    collected_at             timestamptz,
    cancelled_at             timestamptz,
    attempts                 jsonb NOT NULL DEFAULT '[]',
    status_before_collecting text
);
CREATE INDEX bnpl_bills_buyer ON bnpl_bills (buyer_id, created_at);
CREATE INDEX bnpl_bills_collectable ON bnpl_bills (next_attempt_at) WHERE status IN ('DUE', 'FAILED');

-- a campaign discount that arrived before the bill (different topics: no order between them)
CREATE TABLE bnpl_pending_discounts (
    order_id      text PRIMARY KEY,
    discount_type text NOT NULL,
    label         text NOT NULL,
    amount        bigint NOT NULL CHECK (amount > 0),
    funder        text NOT NULL,
    received_at   timestamptz NOT NULL
);

-- service messages (服务消息) sent to buyers, one per stable key
CREATE TABLE bnpl_messages (
    seq        bigserial,
    key        text PRIMARY KEY,
    buyer_id   text NOT NULL,
    bill_id    text NOT NULL,
    order_id   text NOT NULL,
    kind       text NOT NULL,
    text_zh    text NOT NULL,
    send_at    timestamptz NOT NULL,
    created_at timestamptz NOT NULL
);
CREATE INDEX bnpl_messages_buyer ON bnpl_messages (buyer_id, seq);

-- simulated repayment outcome per buyer (SUCCEED by default)
CREATE TABLE bnpl_repayment_behaviour (
    buyer_id   text PRIMARY KEY,
    behaviour  text NOT NULL,
    updated_at timestamptz NOT NULL
);

-- platform override of the collection policy (else the BNPL_* settings)
CREATE TABLE bnpl_collection_policy (
    id         integer PRIMARY KEY CHECK (id = 1),
    policy     jsonb NOT NULL,
    updated_at timestamptz NOT NULL
);

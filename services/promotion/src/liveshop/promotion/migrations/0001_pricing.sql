-- Promotion service schema (SPEC sections 4 and 5). Money: bigint fen. Times: timestamptz (UTC).

-- Read models from the catalog (order service): products, per-streamer distribution grants, streamers.
CREATE TABLE products (
    product_id            text PRIMARY KEY,
    merchant_id           text        NOT NULL,
    title                 text        NOT NULL,
    price                 bigint      NOT NULL,
    product_type          text        NOT NULL,
    status                text        NOT NULL,
    distribution_allowed  boolean     NOT NULL DEFAULT false,
    version               integer     NOT NULL,
    changed_at            timestamptz NOT NULL
);

CREATE TABLE distributions (
    product_id   text        NOT NULL,
    streamer_id  text        NOT NULL,
    allowed      boolean     NOT NULL,
    changed_at   timestamptz NOT NULL,
    PRIMARY KEY (product_id, streamer_id)
);

-- Streamers: their own merchant (自卖, from StreamerBound) and the platform's capability grant (分销带货能力).
CREATE TABLE streamers (
    streamer_id                  text PRIMARY KEY,
    merchant_id                  text,
    bound_version                integer     NOT NULL DEFAULT 0,
    distribution_capability      boolean     NOT NULL DEFAULT false,
    updated_at                   timestamptz NOT NULL
);

-- Automatic promotions (flash sales, full reductions, multi-item discounts): applied without a voucher id.
CREATE TABLE promotions (
    promotion_id  text PRIMARY KEY,
    kind          text        NOT NULL,
    merchant_id   text        NOT NULL,
    name          text        NOT NULL,
    params        jsonb       NOT NULL,
    valid_from    timestamptz,
    valid_until   timestamptz,
    active        boolean     NOT NULL DEFAULT true,
    created_at    timestamptz NOT NULL
);
CREATE INDEX promotions_merchant ON promotions (merchant_id) WHERE active;

-- Coupon templates (商家券 / 主播红包 / 平台券): buyers claim instances of them.
CREATE TABLE coupons (
    coupon_id         text PRIMARY KEY,
    kind              text        NOT NULL,
    issuer_id         text        NOT NULL,
    name              text        NOT NULL,
    params            jsonb       NOT NULL,
    valid_from        timestamptz,
    valid_until       timestamptz,
    quantity          integer     NOT NULL CHECK (quantity > 0),
    claimed           integer     NOT NULL DEFAULT 0 CHECK (claimed >= 0 AND claimed <= quantity),
    per_buyer_limit   integer     NOT NULL CHECK (per_buyer_limit > 0),
    created_at        timestamptz NOT NULL
);

-- 宠爱红包 activities. `claimed` is the claim counter the single-statement claim increments.
CREATE TABLE re_activities (
    activity_id        text PRIMARY KEY,
    streamer_id        text        NOT NULL,
    name               text        NOT NULL,
    face_value         bigint      NOT NULL CHECK (face_value > 0),
    quantity           integer     NOT NULL CHECK (quantity > 0),
    claimed            integer     NOT NULL DEFAULT 0 CHECK (claimed >= 0 AND claimed <= quantity),
    issue_mode         text        NOT NULL,
    scheduled_at       timestamptz,
    use_starts_at      timestamptz,
    use_ends_at        timestamptz,
    use_duration_s     bigint,
    product_ids        text[]      NOT NULL,
    per_viewer_limit   integer     NOT NULL CHECK (per_viewer_limit > 0),
    created_at         timestamptz NOT NULL,
    status             text        NOT NULL,
    funding            text        NOT NULL,  -- AWAITING_HOLD | HELD | REFUSED
    funding_detail     jsonb,
    issued_at          timestamptz,
    ended_at           timestamptz,
    end_reason         text,
    version            integer     NOT NULL DEFAULT 0
);
CREATE INDEX re_activities_streamer ON re_activities (streamer_id);
CREATE INDEX re_activities_due ON re_activities (status, scheduled_at) WHERE status <> 'ENDED';

CREATE TABLE re_viewer_claims (
    activity_id  text    NOT NULL,
    viewer_id    text    NOT NULL,
    n            integer NOT NULL CHECK (n > 0),
    PRIMARY KEY (activity_id, viewer_id)
);

-- The activity's real-time fund ledger (holds, releases, spends) shown on the dashboard.
CREATE TABLE re_ledger (
    entry_id     bigserial PRIMARY KEY,
    activity_id  text        NOT NULL,
    kind         text        NOT NULL,
    amount       bigint      NOT NULL CHECK (amount > 0),
    at           timestamptz NOT NULL,
    reason       text        NOT NULL,
    ref          text        NOT NULL DEFAULT ''
);
CREATE INDEX re_ledger_activity ON re_ledger (activity_id, entry_id);

-- Budget operations requested from the wallet (one request_id each), and their outcome.
CREATE TABLE re_budget_requests (
    request_id       text PRIMARY KEY,
    activity_id      text        NOT NULL,
    kind             text        NOT NULL,  -- CREATE | RAISE | RELEASE | REDEEM
    amount           bigint      NOT NULL,
    target_quantity  integer,
    status           text        NOT NULL,  -- REQUESTED | DONE | REFUSED
    detail           jsonb,
    created_at       timestamptz NOT NULL,
    decided_at       timestamptz
);
CREATE INDEX re_budget_requests_activity ON re_budget_requests (activity_id);

-- Voucher instances owned by buyers: claimed coupons, claimed red envelopes, granted balances.
-- These are what OrderPlaced.voucher_ids reference.
CREATE TABLE vouchers (
    voucher_id     text PRIMARY KEY,
    buyer_id       text        NOT NULL,
    kind           text        NOT NULL,
    label          text        NOT NULL DEFAULT '',
    source_id      text        NOT NULL,   -- coupon_id, activity_id or grant id
    params         jsonb       NOT NULL,
    valid_from     timestamptz,
    valid_until    timestamptz,
    status         text        NOT NULL,   -- AVAILABLE | RESERVED | USED | EXPIRED
    channel        text,
    claimed_at     timestamptz NOT NULL,
    order_id       text,
    amount         bigint      NOT NULL DEFAULT 0,  -- reserved / used amount
    order_gmv      bigint      NOT NULL DEFAULT 0,
    used_at        timestamptz
);
CREATE INDEX vouchers_buyer ON vouchers (buyer_id);
CREATE INDEX vouchers_source ON vouchers (source_id);
CREATE INDEX vouchers_order ON vouchers (order_id) WHERE order_id IS NOT NULL;
CREATE INDEX vouchers_expiring ON vouchers (valid_until) WHERE status = 'AVAILABLE' AND kind = 'STREAMER_RED_ENVELOPE';

CREATE TABLE coupon_buyer_claims (
    coupon_id  text    NOT NULL,
    buyer_id   text    NOT NULL,
    n          integer NOT NULL CHECK (n > 0),
    PRIMARY KEY (coupon_id, buyer_id)
);

-- One pricing per order (the answer to OrderPlaced), replayed as is on redelivery.
CREATE TABLE order_pricings (
    order_id     text PRIMARY KEY,
    buyer_id     text        NOT NULL DEFAULT '',
    merchant_id  text        NOT NULL DEFAULT '',
    outcome      text        NOT NULL,   -- PRICED | REJECTED
    payable      bigint,
    result       jsonb       NOT NULL,
    priced_at    timestamptz NOT NULL,
    settled      text                    -- PAID | CANCELLED once the order settled
);

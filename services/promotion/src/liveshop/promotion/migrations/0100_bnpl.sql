-- 先用后付 (BNPL) bounded context of the promotion service (docs/bnpl.md). Every table is bnpl_*.

-- read model: the wallet's SecureWalletUpgraded (liveshop.wallet.merchants)
CREATE TABLE bnpl_secure_wallets (
    merchant_id text PRIMARY KEY,
    upgraded_at timestamptz NOT NULL
);

-- platform facts for the good-standing rule (platform admin API)
CREATE TABLE bnpl_merchant_standing (
    merchant_id      text PRIMARY KEY,
    operating_since  timestamptz NOT NULL,
    restricted_until timestamptz,
    updated_at       timestamptz NOT NULL
);

CREATE TABLE bnpl_merchant_violations (
    violation_id bigserial PRIMARY KEY,
    merchant_id  text NOT NULL,
    occurred_at  timestamptz NOT NULL,
    serious      boolean NOT NULL,
    note         text NOT NULL DEFAULT ''
);
CREATE INDEX bnpl_merchant_violations_merchant ON bnpl_merchant_violations (merchant_id, occurred_at);

CREATE TABLE bnpl_merchants (
    merchant_id       text PRIMARY KEY,
    status            text NOT NULL,
    opened_at         timestamptz,
    agreement_version text
);

-- every opening decision (success and failure), newest last
CREATE TABLE bnpl_opening_decisions (
    decision_id bigserial PRIMARY KEY,
    merchant_id text NOT NULL,
    opened      boolean NOT NULL,
    decision    jsonb NOT NULL,
    decided_at  timestamptz NOT NULL
);
CREATE INDEX bnpl_opening_decisions_merchant ON bnpl_opening_decisions (merchant_id, decision_id);

-- read model: the catalog's ProductChanged (liveshop.catalog)
CREATE TABLE bnpl_products (
    product_id   text PRIMARY KEY,
    merchant_id  text NOT NULL,
    title        text NOT NULL,
    price        bigint NOT NULL,
    product_type text NOT NULL,
    status       text NOT NULL,
    version      bigint NOT NULL
);
CREATE INDEX bnpl_products_merchant ON bnpl_products (merchant_id, product_id);

CREATE TABLE bnpl_activities (
    activity_id  text PRIMARY KEY,
    merchant_id  text NOT NULL,
    name         text NOT NULL,
    validity     text NOT NULL,
    starts_at    timestamptz,
    ends_at      timestamptz,
    product_ids  text[] NOT NULL,
    status       text NOT NULL,
    created_at   timestamptz NOT NULL,
    confirmed_at timestamptz,
    ended_at     timestamptz
);
CREATE INDEX bnpl_activities_merchant ON bnpl_activities (merchant_id, created_at);

CREATE TABLE bnpl_buyers (
    buyer_id         text PRIMARY KEY,
    first_opened_at  timestamptz,
    overdue_bill_ids text[] NOT NULL DEFAULT '{}'
);

-- platform-set eligibility facts (platform admin API)
CREATE TABLE bnpl_buyer_profiles (
    buyer_id          text PRIMARY KEY,
    identity_verified boolean NOT NULL,
    registered_at     timestamptz NOT NULL,
    credit_score      integer,
    updated_at        timestamptz NOT NULL
);

-- read model: the wallet's bill events (open bills count against the buyer's limit)
CREATE TABLE bnpl_buyer_bills (
    bill_id     text PRIMARY KEY,
    order_id    text NOT NULL,
    buyer_id    text NOT NULL,
    amount_owed bigint NOT NULL,
    status      text NOT NULL
);
CREATE INDEX bnpl_buyer_bills_buyer ON bnpl_buyer_bills (buyer_id);

-- the checkout decision per BNPL order
CREATE TABLE bnpl_orders (
    order_id      text PRIMARY KEY,
    buyer_id      text NOT NULL,
    merchant_id   text NOT NULL,
    item_total    bigint NOT NULL,
    placed_at     timestamptz NOT NULL,
    approved      boolean NOT NULL,
    reasons       jsonb NOT NULL DEFAULT '[]'
);

-- item discounts (单品优惠, e.g. FLASH_SALE) from OrderPriced: item amount = item_total - this
CREATE TABLE bnpl_order_item_discounts (
    order_id text PRIMARY KEY,
    amount   bigint NOT NULL
);

-- a buyer's first approved BNPL order (the PK makes "first" race-free)
CREATE TABLE bnpl_first_orders (
    buyer_id text PRIMARY KEY,
    order_id text NOT NULL
);

CREATE TABLE bnpl_campaigns (
    campaign_id            text PRIMARY KEY,
    name                   text NOT NULL,
    registration_starts_at timestamptz NOT NULL,
    registration_ends_at   timestamptz NOT NULL,
    starts_at              timestamptz NOT NULL,
    ends_at                timestamptz NOT NULL,
    budget                 bigint NOT NULL,
    seed_id                text NOT NULL,
    seed_commitment        text NOT NULL,
    min_item_amount        bigint NOT NULL,
    discount_min           bigint NOT NULL,
    discount_max           bigint NOT NULL,
    created_at             timestamptz NOT NULL
);

-- the secret seed, apart from the campaign (revealed only after the campaign ended)
CREATE TABLE bnpl_campaign_seeds (
    campaign_id text PRIMARY KEY REFERENCES bnpl_campaigns (campaign_id),
    seed_id     text NOT NULL,
    secret      bytea NOT NULL
);

CREATE TABLE bnpl_campaign_budget (
    campaign_id text PRIMARY KEY REFERENCES bnpl_campaigns (campaign_id),
    total       bigint NOT NULL CHECK (total >= 0),
    granted     bigint NOT NULL DEFAULT 0,
    CHECK (granted >= 0 AND granted <= total)
);

CREATE TABLE bnpl_campaign_registrations (
    campaign_id   text NOT NULL REFERENCES bnpl_campaigns (campaign_id),
    merchant_id   text NOT NULL,
    registered_at timestamptz NOT NULL,
    PRIMARY KEY (campaign_id, merchant_id)
);

-- one outcome per BNPL order (granted or not, with the draw for the audit)
CREATE TABLE bnpl_campaign_outcomes (
    order_id    text PRIMARY KEY,
    campaign_id text,
    buyer_id    text NOT NULL,
    merchant_id text NOT NULL,
    granted     bigint NOT NULL DEFAULT 0,
    drawn       bigint,
    reasons     jsonb NOT NULL DEFAULT '[]',
    message     text NOT NULL DEFAULT '',
    draw        jsonb,
    decided_at  timestamptz NOT NULL,
    released_at timestamptz
);
-- at most one grant per buyer and campaign
CREATE UNIQUE INDEX bnpl_campaign_one_grant_per_buyer ON bnpl_campaign_outcomes (campaign_id, buyer_id) WHERE granted > 0;

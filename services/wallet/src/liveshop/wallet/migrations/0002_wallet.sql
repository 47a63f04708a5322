-- Wallet business records around the ledger (the ledger itself is 0001). Money is bigint fen.

ALTER TABLE payments
    ADD COLUMN buyer_payable   bigint NOT NULL DEFAULT 0 CHECK (buyer_payable >= 0),
    ADD COLUMN platform_funded bigint NOT NULL DEFAULT 0 CHECK (platform_funded >= 0),
    ADD COLUMN streamer_funded bigint NOT NULL DEFAULT 0 CHECK (streamer_funded >= 0),
    ADD COLUMN reason_code     text,
    ADD COLUMN updated_at      timestamptz;

-- Streamer marketing wallet top-ups (one row per top-up; its ledger transfers are topup:<id>[:...]).
CREATE TABLE top_ups (
    top_up_id    text PRIMARY KEY,
    streamer_id  text        NOT NULL,
    channel      text        NOT NULL CHECK (channel IN ('WECHAT_QR', 'ALIPAY_QR', 'ONLINE_BANKING', 'OFFLINE_TRANSFER')),
    amount       bigint      NOT NULL CHECK (amount > 0),
    fee          bigint      NOT NULL CHECK (fee >= 0),
    status       text        NOT NULL CHECK (status IN ('PENDING_CONFIRMATION', 'COMPLETED', 'REJECTED')),
    reference    text,
    created_at   timestamptz NOT NULL,
    resolved_at  timestamptz,
    resolved_by  text
);
CREATE INDEX top_ups_streamer ON top_ups (streamer_id, created_at);

-- Budget requests from promotion and the wallet's answer (replayed on redelivery).
CREATE TABLE budget_ops (
    activity_id  text        NOT NULL,
    request_id   text        NOT NULL,
    streamer_id  text        NOT NULL,
    kind         text        NOT NULL CHECK (kind IN ('HOLD', 'RELEASE', 'REDEEM')),
    amount       bigint      NOT NULL CHECK (amount >= 0),
    order_id     text,
    outcome      text        NOT NULL CHECK (outcome IN ('DONE', 'REJECTED')),
    reason_code  text,
    created_at   timestamptz NOT NULL,
    PRIMARY KEY (activity_id, request_id)
);
CREATE INDEX budget_ops_order ON budget_ops (order_id) WHERE order_id IS NOT NULL;

-- Simulated payment instruments: how each buyer's payment answers (default SUCCEED).
CREATE TABLE payment_instruments (
    buyer_id    text PRIMARY KEY,
    behaviour   text        NOT NULL CHECK (behaviour IN ('SUCCEED', 'DECLINE', 'TIMEOUT')),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- 安心钱包 (merchant secure wallet): BNPL requires UPGRADED.
CREATE TABLE secure_wallets (
    merchant_id  text PRIMARY KEY,
    status       text NOT NULL CHECK (status IN ('NOT_UPGRADED', 'UPGRADED')),
    legal_name   text,
    upgraded_at  timestamptz
);

CREATE INDEX ledger_accounts_code_user ON ledger_accounts (code, user_data);

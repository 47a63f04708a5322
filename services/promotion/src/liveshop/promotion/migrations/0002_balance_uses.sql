-- 金币 / 消费金 given back after a paid order is cancelled (README "Cancellation after payment").

-- What was granted (cap of every give-back). Set for granted balances; NULL for coupons and envelopes.
-- Rows granted before this migration take their balance as it is now (a partly used one: what is left).
ALTER TABLE vouchers ADD COLUMN face_value bigint CHECK (face_value IS NULL OR face_value > 0);
UPDATE vouchers SET face_value = (params->>'amount')::bigint
 WHERE kind IN ('COINS', 'CASH_SUBSIDY', 'CONSUMPTION_CREDIT');

-- One row per (balance, paid order): what the order took; `restored` once given back (NULL: not yet),
-- so a redelivered OrderCancelled never credits twice.
CREATE TABLE voucher_balance_uses (
    voucher_id   text        NOT NULL REFERENCES vouchers (voucher_id),
    order_id     text        NOT NULL,
    amount       bigint      NOT NULL CHECK (amount > 0),
    used_at      timestamptz NOT NULL,
    restored     bigint      CHECK (restored IS NULL OR (restored >= 0 AND restored <= amount)),
    restored_at  timestamptz,
    PRIMARY KEY (voucher_id, order_id),
    CHECK ((restored IS NULL) = (restored_at IS NULL))
);
CREATE INDEX voucher_balance_uses_order ON voucher_balance_uses (order_id);

-- 主播红包 streamer coupons are funded like 宠爱红包: the batch's budget (amount × quantity) is held in the
-- streamer's marketing wallet (BudgetHoldRequested with activity_id = coupon_id) before anyone can claim.
-- funding: NULL = not budget-funded (merchant / platform coupons, streamer coupons created before this
-- migration); AWAITING_HOLD (shown PENDING_FUNDS) -> HELD (ACTIVE) | REFUSED (REJECTED).
-- Budget bookkeeping (fen): held == spent + released + outstanding; after expiry outstanding is what
-- coupons reserved by unpaid orders still need.
ALTER TABLE coupons ADD COLUMN funding          text CHECK (funding IN ('AWAITING_HOLD', 'HELD', 'REFUSED'));
ALTER TABLE coupons ADD COLUMN funding_detail   jsonb;
ALTER TABLE coupons ADD COLUMN budget_held      bigint NOT NULL DEFAULT 0 CHECK (budget_held >= 0);
ALTER TABLE coupons ADD COLUMN budget_spent     bigint NOT NULL DEFAULT 0 CHECK (budget_spent >= 0);
ALTER TABLE coupons ADD COLUMN budget_released  bigint NOT NULL DEFAULT 0 CHECK (budget_released >= 0);
-- ended_at: claims closed (下线), unclaimed budget released; expired_at: validity over, all free budget released.
ALTER TABLE coupons ADD COLUMN ended_at         timestamptz;
ALTER TABLE coupons ADD COLUMN expired_at       timestamptz;
ALTER TABLE coupons ADD CONSTRAINT coupons_budget_outstanding
    CHECK (budget_spent + budget_released <= budget_held);
CREATE INDEX coupons_expiring ON coupons (valid_until)
    WHERE funding = 'HELD' AND expired_at IS NULL AND valid_until IS NOT NULL;

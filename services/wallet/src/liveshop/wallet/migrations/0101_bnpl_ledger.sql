-- 先用后付 in the ledger: a campaign discount that arrives before its bill keeps the campaign it is funded
-- from (its ledger account platform:campaign:<id> pays the discount when the bill takes it).
ALTER TABLE bnpl_pending_discounts ADD COLUMN campaign_id text;

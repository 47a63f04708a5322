-- 先用后付: a BNPL order requests its (0-yuan) payment only once the promotion service approved BNPL.
ALTER TABLE orders ADD COLUMN bnpl_approved boolean NOT NULL DEFAULT false;

-- 芝麻先用后付立减: "商品金额10元及以上" is checked per item (docs/bnpl.md §5), so the BNPL order keeps its lines
-- (unit price, quantity) and the item discounts (单品优惠) per line.
ALTER TABLE bnpl_orders ADD COLUMN lines jsonb NOT NULL DEFAULT '[]';
ALTER TABLE bnpl_order_item_discounts ADD COLUMN per_line jsonb NOT NULL DEFAULT '{}';

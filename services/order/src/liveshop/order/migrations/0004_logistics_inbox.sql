-- The buyer's logistics on the order (domain/logistics.py): fulfillment's canonical tracks, one per
-- (order, status), and one inbox of 服务消息 for order status changes, pre-shipment tracks and
-- 先用后付 bill notices (kind ORDER / LOGISTICS / BNPL; status is the order status, or NULL).
CREATE TABLE order_tracks (
    id          bigserial,
    order_id    text        NOT NULL,
    status      text        NOT NULL,
    occurred_at timestamptz NOT NULL,
    carrier     text,
    waybill_no  text,
    isv_id      text,
    PRIMARY KEY (order_id, status)
);

ALTER TABLE service_messages ADD COLUMN kind text NOT NULL DEFAULT 'ORDER';
ALTER TABLE service_messages ALTER COLUMN status DROP NOT NULL;

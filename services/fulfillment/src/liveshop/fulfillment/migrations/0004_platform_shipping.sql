-- Shipping from the platform (商家自己发货, domain/shipping.py): the SHIPPED track of a merchant's own
-- shipment has no isv_id and carries the carrier and waybill number; the carrier's delivery callback
-- finds the parcel's orders by (carrier, waybill_no).
CREATE INDEX tracks_parcel ON tracks (carrier, waybill_no) WHERE status = 'SHIPPED';

-- A projection rebuild in progress (one row per consumer): written before the consumer group's
-- offsets are moved back, deleted in the transaction that empties the projections. A row left by a
-- process that died in between makes the next start finish the rebuild before consuming.
CREATE TABLE IF NOT EXISTS projection_rebuilds (
    consumer     text        PRIMARY KEY,
    requested_at timestamptz NOT NULL DEFAULT now()
);

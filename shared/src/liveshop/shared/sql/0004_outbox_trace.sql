-- The trace context of each outbox row's event (W3C traceparent as JSON, NULL when tracing is off).
-- Kept out of `headers` on purpose: a replay makes other trace ids, and the state hash compares
-- `headers` but skips this column (liveshop.shared.statehash). The relay adds it to the record.
ALTER TABLE outbox ADD COLUMN IF NOT EXISTS trace jsonb;

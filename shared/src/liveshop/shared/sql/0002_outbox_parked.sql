-- Outbox rows the broker refused for good (e.g. larger than the topic accepts) are parked: set
-- aside with the error in last_error, so the rows behind them are published. /health/ready
-- reports them until an operator fixes the cause and sets parked_at back to NULL.
ALTER TABLE outbox ADD COLUMN IF NOT EXISTS parked_at timestamptz;

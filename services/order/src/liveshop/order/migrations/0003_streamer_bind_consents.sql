-- 自卖 binding needs both parties: a streamer asks to be a merchant's own streamer, the merchant agrees
-- (or the other way round). One row per party's consent; the binding happens (and the rows go) when
-- both consents for the same (streamer, merchant) exist. Operators (ops) bind directly.
CREATE TABLE streamer_bind_consents (
    streamer_id text        NOT NULL,
    merchant_id text        NOT NULL,
    party       text        NOT NULL CHECK (party IN ('streamer', 'merchant')),
    given_at    timestamptz NOT NULL,
    PRIMARY KEY (streamer_id, merchant_id, party)
);

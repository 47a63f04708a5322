-- Nonces of signed ISV requests and records (domain/signature.py): a (app key, nonce) is refused
-- a second time until its signed timestamp has left the window (expires_at); then it is purged.
CREATE TABLE isv_nonces (
    app_key    text        NOT NULL,
    nonce      text        NOT NULL,
    expires_at timestamptz NOT NULL,
    PRIMARY KEY (app_key, nonce)
);
CREATE INDEX isv_nonces_expiry ON isv_nonces (expires_at);

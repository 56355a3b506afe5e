-- Failed dashboard sign-ins, for rate limiting per account and per client (kept in the
-- database so every instance sees them). Rows older than the window are deleted as new
-- failures are recorded.
CREATE TABLE login_failures (
    id              BIGSERIAL PRIMARY KEY,
    account         TEXT    NOT NULL,
    ip_hash         TEXT    NOT NULL,
    created_at      BIGINT  NOT NULL
);
CREATE INDEX login_failures_account ON login_failures (account, created_at);
CREATE INDEX login_failures_ip ON login_failures (ip_hash, created_at);
CREATE INDEX login_failures_time ON login_failures (created_at);

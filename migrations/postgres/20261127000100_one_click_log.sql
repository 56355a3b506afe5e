-- How far the one-click log (a file beside the SQLite database, see
-- src/server/service/one_click_queue.rs) has been applied: written in the same
-- transaction as the opt-outs it applies, so a restart replays exactly the rest.
-- PostgreSQL has no log (opt-outs commit before the 200); the table keeps the schemas alike.
CREATE TABLE one_click_log (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    applied_seq BIGINT  NOT NULL
);

-- Dashboard sessions die with their user: each user row carries a session epoch that a
-- session must match (it changes when the role changes; a new user starts at a random
-- one), and user ids are never reused (AUTOINCREMENT), so a removed user's session can
-- never become a later user's. Nothing references users.id, so the table is rebuilt.
CREATE TABLE users_new (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    email           TEXT    NOT NULL UNIQUE,
    role            TEXT    NOT NULL,
    password_hash   TEXT    NOT NULL,
    created_at      INTEGER NOT NULL,
    session_epoch   INTEGER NOT NULL DEFAULT 0
);
INSERT INTO users_new (id, email, role, password_hash, created_at)
    SELECT id, email, role, password_hash, created_at FROM users;
DROP TABLE users;
ALTER TABLE users_new RENAME TO users;

-- Dashboard sessions die with their user: each user row carries a session epoch that a
-- session must match (it changes when the role changes; a new user starts at a random
-- one). BIGSERIAL ids are never reused.
ALTER TABLE users ADD COLUMN session_epoch BIGINT NOT NULL DEFAULT 0;

-- Deleted users are kept (and can be restored): their activities name them.
ALTER TABLE users ADD COLUMN deleted_us INTEGER NOT NULL DEFAULT 0; -- 0: not deleted

-- Login sessions of the web UI and the session API. Only the SHA-256 of
-- the secret (the cookie's value) is kept.
CREATE TABLE sessions (
  id              INTEGER PRIMARY KEY AUTOINCREMENT,
  secret_hash     TEXT    NOT NULL UNIQUE,
  user_id         INTEGER NOT NULL REFERENCES users (id),
  created_us      INTEGER NOT NULL,
  expires_us      INTEGER NOT NULL, -- absolute end
  idle_timeout_us INTEGER NOT NULL, -- ends this long after last_seen_us
  last_seen_us    INTEGER NOT NULL,
  ended_us        INTEGER NOT NULL DEFAULT 0, -- 0: not logged out or revoked
  client_address  TEXT    NOT NULL,
  user_agent      TEXT    NOT NULL
);
CREATE INDEX sessions_by_user ON sessions (user_id);

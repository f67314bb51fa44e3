-- Activities, in recording order. AUTOINCREMENT guarantees that an id is
-- never handed out twice, even after the row with the largest id is gone.
CREATE TABLE activities (
  id                    INTEGER PRIMARY KEY AUTOINCREMENT,
  created_us            INTEGER NOT NULL, -- microseconds since the Unix epoch, UTC; never decreases with id
  operator              TEXT    NOT NULL CHECK (operator IN ('human', 'machine')),
  username              TEXT    NOT NULL,
  activity_system_name  TEXT    NOT NULL,
  activity_display_name TEXT    NOT NULL,
  subtype_system_name   TEXT    NOT NULL,
  subtype_display_name  TEXT    NOT NULL,
  extra                 TEXT    NOT NULL, -- JSON object, RFC 8785 canonical form
  object_id             TEXT    NOT NULL,
  object_type           TEXT    NOT NULL,
  object_name           TEXT    NOT NULL,
  object_column_changes TEXT    NOT NULL, -- JSON array of {column_name, old_value, new_value}
  event_id              TEXT    UNIQUE    -- client-chosen UUID for idempotent recording, or NULL
);

-- One index per filter. Each implicitly ends with the rowid (id), so
-- "filter = ? ORDER BY id DESC LIMIT n" walks the index backwards and stops
-- after n rows, and an id range narrows it further.
CREATE INDEX activities_by_activity    ON activities (activity_system_name);
CREATE INDEX activities_by_operator    ON activities (operator);
CREATE INDEX activities_by_username    ON activities (username);
CREATE INDEX activities_by_object_type ON activities (object_type);
CREATE INDEX activities_by_object_id   ON activities (object_id);
CREATE INDEX activities_by_created     ON activities (created_us);

-- Activity types registered by this installation; the seed's are built in.
CREATE TABLE activity_types (
  system_name   TEXT    PRIMARY KEY,
  display_name  TEXT    NOT NULL,
  description   TEXT    NOT NULL,
  introduced_in TEXT    NOT NULL,
  subtypes      TEXT    NOT NULL, -- JSON array of {system_name, display_name}
  created_us    INTEGER NOT NULL
);

CREATE TABLE permission_groups (
  id          INTEGER PRIMARY KEY AUTOINCREMENT,
  name        TEXT    NOT NULL UNIQUE COLLATE NOCASE,
  permissions TEXT    NOT NULL, -- comma-separated permission names
  created_us  INTEGER NOT NULL
);

CREATE TABLE users (
  id            INTEGER PRIMARY KEY AUTOINCREMENT,
  username      TEXT    NOT NULL UNIQUE COLLATE NOCASE,
  group_id      INTEGER NOT NULL REFERENCES permission_groups (id),
  password_hash TEXT    NOT NULL,
  disabled      INTEGER NOT NULL DEFAULT 0,
  created_us    INTEGER NOT NULL
);

-- API tokens: only the SHA-256 of the secret is kept.
CREATE TABLE api_tokens (
  id          INTEGER PRIMARY KEY AUTOINCREMENT,
  name        TEXT    NOT NULL,
  secret_hash TEXT    NOT NULL UNIQUE,
  scopes      TEXT    NOT NULL, -- comma-separated permission names
  user_id     INTEGER REFERENCES users (id),
  created_us  INTEGER NOT NULL,
  expires_us  INTEGER NOT NULL DEFAULT 0, -- 0: never
  revoked_us  INTEGER NOT NULL DEFAULT 0  -- 0: not revoked
);

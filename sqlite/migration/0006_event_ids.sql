-- Event ids (idempotency keys) move out of the activities table. They are
-- random, so a B-tree of them takes each new one on a page of its own: once
-- it outgrows a commit, every activity cost a page written, and recording
-- slowed down as the log grew. New event ids go to recent_event_ids, a
-- B-tree small enough that a commit rewrites few pages of it; the
-- sequencer moves them into event_ids, in key order, whenever 65,536 have
-- gathered (internal/sequencer). A lookup reads both.
CREATE TABLE event_ids (
  event_id TEXT    PRIMARY KEY, -- the client's UUID, lower case
  id       INTEGER NOT NULL     -- the activity it recorded
) WITHOUT ROWID;
CREATE TABLE recent_event_ids (
  event_id TEXT    PRIMARY KEY,
  id       INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO event_ids SELECT event_id, id FROM activities WHERE event_id IS NOT NULL ORDER BY event_id;

-- The activities table again, without event_id and its unique index. The
-- sequencer assigns every id (max + 1 under the log's lock), so the rowid
-- needs no AUTOINCREMENT.
CREATE TABLE activities_new (
  id                    INTEGER PRIMARY KEY,
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
  object_column_changes TEXT    NOT NULL  -- JSON array of {column_name, old_value, new_value}
);
INSERT INTO activities_new SELECT id, created_us, operator, username, activity_system_name, activity_display_name,
  subtype_system_name, subtype_display_name, extra, object_id, object_type, object_name, object_column_changes
  FROM activities ORDER BY id;
DROP TABLE activities;
ALTER TABLE activities_new RENAME TO activities;

-- The filters' indexes, as 0001 to 0005 left them. Each ends with the
-- rowid (id), so "filter = ? ORDER BY id DESC LIMIT n" walks it backwards
-- and stops after n rows, and an id range narrows it further.
CREATE INDEX activities_by_operator             ON activities (operator);
CREATE INDEX activities_by_username             ON activities (username);
CREATE INDEX activities_by_object_id            ON activities (object_id);
CREATE INDEX activities_by_activity_operator    ON activities (activity_system_name, operator);
CREATE INDEX activities_by_object_type_operator ON activities (object_type, operator);

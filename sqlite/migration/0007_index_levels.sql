-- The index of activities by object_id moves out of the activities table,
-- like event ids before it (0006), and for the same reason: a log records
-- changes to many objects, and each object's new entries land on a page
-- of their own, so that once the index outgrew a commit every activity
-- cost a page written, and recording slowed down as the log grew.
--
-- Both indexes are kept in three levels: recent_* takes new entries and
-- stays small enough that a commit rewrites few of its pages; the
-- sequencer moves it into newer_*, in key order, whenever the log passes a
-- multiple of 65,536 activities, and newer_* into the last level whenever
-- it passes a multiple of 1,048,576 (internal/sequencer's deferredIndex). With two levels, each move
-- rewrote most pages of a last level that grows with the log. Queries
-- read every level (internal/sqlstore).
CREATE TABLE newer_event_ids (
  event_id TEXT    PRIMARY KEY,
  id       INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE object_ids (
  object_id   TEXT    NOT NULL,
  activity_id INTEGER NOT NULL,
  PRIMARY KEY (object_id, activity_id)
) WITHOUT ROWID;
CREATE TABLE newer_object_ids (
  object_id   TEXT    NOT NULL,
  activity_id INTEGER NOT NULL,
  PRIMARY KEY (object_id, activity_id)
) WITHOUT ROWID;
CREATE TABLE recent_object_ids (
  object_id   TEXT    NOT NULL,
  activity_id INTEGER NOT NULL,
  PRIMARY KEY (object_id, activity_id)
) WITHOUT ROWID;
INSERT INTO object_ids SELECT object_id, id FROM activities ORDER BY object_id, id;
DROP INDEX activities_by_object_id;

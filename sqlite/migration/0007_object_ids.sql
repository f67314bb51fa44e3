-- The index of activities by object_id moves out of the activities table,
-- like event ids before it (0006), and for the same reason: a log records
-- changes to many objects, and each object's new entries land on a page
-- of their own, so that once the index outgrew a commit every activity
-- cost a page written, and recording slowed down as the log grew. New
-- entries go to recent_object_ids, small enough that a commit rewrites few
-- of its pages; the sequencer moves them into object_ids, in key order,
-- whenever 65,536 have gathered (internal/sequencer). Queries read both
-- (internal/sqlstore).
CREATE TABLE object_ids (
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

-- The index of activities by (activity_system_name, operator) moves out
-- of the activities table, into two levels (internal/sequencer's
-- deferredIndex). Its few hundred keys each took the entries of a commit
-- at the end of their own run, on a page of their own, so that a commit of
-- 1,000 activities rewrote about 400 pages of it once it outgrew a few
-- hundred pages, and recording slowed down by a fifth as the log grew.
-- New entries go to recent_activity_names, which spans 8,192 activities
-- (a few dozen pages); the sequencer appends them to activity_names, in
-- key order, whenever the log passes a multiple of 8,192. Queries read
-- both (internal/sqlstore).
CREATE TABLE recent_activity_names (
  activity_system_name TEXT    NOT NULL,
  operator             TEXT    NOT NULL,
  activity_id          INTEGER NOT NULL,
  PRIMARY KEY (activity_system_name, operator, activity_id)
) WITHOUT ROWID;
CREATE TABLE activity_names (
  activity_system_name TEXT    NOT NULL,
  operator             TEXT    NOT NULL,
  activity_id          INTEGER NOT NULL,
  PRIMARY KEY (activity_system_name, operator, activity_id)
) WITHOUT ROWID;
INSERT INTO activity_names SELECT activity_system_name, operator, id FROM activities ORDER BY activity_system_name, operator, id;
DROP INDEX activities_by_activity_operator;

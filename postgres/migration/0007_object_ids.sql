-- The index of activities by object_id moves out of the activities table,
-- as on SQLite (sqlite/migration/0007_object_ids.sql says why): new entries
-- go to recent_object_ids, which the sequencer moves into object_ids, in
-- key order, whenever 65,536 have gathered. Queries read both.
CREATE TABLE object_ids (
  object_id   TEXT   COLLATE "C" NOT NULL,
  activity_id BIGINT NOT NULL,
  PRIMARY KEY (object_id, activity_id)
);
CREATE TABLE recent_object_ids (
  object_id   TEXT   COLLATE "C" NOT NULL,
  activity_id BIGINT NOT NULL,
  PRIMARY KEY (object_id, activity_id)
);
INSERT INTO object_ids SELECT object_id, id FROM activities ORDER BY object_id, id;
DROP INDEX activities_by_object_id;

-- The index of activities by object_id moves out of the activities table,
-- and both it and the index of event ids are kept in three levels, as on
-- SQLite (sqlite/migration/0007_index_levels.sql says why): recent_* takes
-- new entries, moved into newer_* in key order whenever the log passes a
-- multiple of 65,536 activities, and newer_* into the last level whenever
-- it passes a multiple of 1,048,576.
-- Queries read every level.
CREATE TABLE newer_event_ids (
  event_id TEXT   COLLATE "C" PRIMARY KEY,
  id       BIGINT NOT NULL
);
CREATE TABLE object_ids (
  object_id   TEXT   COLLATE "C" NOT NULL,
  activity_id BIGINT NOT NULL,
  PRIMARY KEY (object_id, activity_id)
);
CREATE TABLE newer_object_ids (
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

-- Event ids (idempotency keys) move out of the activities table, as on
-- SQLite (sqlite/migration/0006_event_ids.sql says why): new ones go to
-- recent_event_ids, which the sequencer moves into event_ids, in key
-- order, whenever 65,536 have gathered. A lookup reads both.
CREATE TABLE event_ids (
  event_id TEXT   COLLATE "C" PRIMARY KEY, -- the client's UUID, lower case
  id       BIGINT NOT NULL                 -- the activity it recorded
);
CREATE TABLE recent_event_ids (
  event_id TEXT   COLLATE "C" PRIMARY KEY,
  id       BIGINT NOT NULL
);
INSERT INTO event_ids SELECT event_id, id FROM activities WHERE event_id IS NOT NULL ORDER BY event_id;
ALTER TABLE activities DROP COLUMN event_id;

-- Event ids are kept in five levels instead of three, as on SQLite
-- (sqlite/migration/0012_event_id_levels.sql says why). The entries stay
-- where they are: every level is read.
CREATE TABLE middle_event_ids (
  event_id TEXT   COLLATE "C" PRIMARY KEY,
  id       BIGINT NOT NULL
);
CREATE TABLE older_event_ids (
  event_id TEXT   COLLATE "C" PRIMARY KEY,
  id       BIGINT NOT NULL
);

-- Streams deliver the log to SIEMs and pipelines (package stream). The
-- cursor is the last activity id delivered; the lease says which node
-- delivers the stream (one node at a time).
CREATE TABLE streams (
  id               INTEGER PRIMARY KEY,
  name             TEXT    NOT NULL UNIQUE,
  type             TEXT    NOT NULL,
  url              TEXT    NOT NULL,
  format           TEXT    NOT NULL,
  filter           TEXT    NOT NULL,
  batch_size       INTEGER NOT NULL,
  subject          TEXT    NOT NULL,
  ca_pem           TEXT    NOT NULL,
  secret           TEXT    NOT NULL, -- the webhook signing secret or the HEC token; never returned after creation
  paused           INTEGER NOT NULL,
  cursor           INTEGER NOT NULL,
  delivered        INTEGER NOT NULL,
  last_delivery_us INTEGER NOT NULL, -- 0: never
  last_error       TEXT    NOT NULL,
  last_error_us    INTEGER NOT NULL, -- 0: never
  lease_node       TEXT    NOT NULL,
  lease_until_us   INTEGER NOT NULL,
  created_us       INTEGER NOT NULL
);

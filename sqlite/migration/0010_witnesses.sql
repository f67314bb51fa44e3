-- Witnesses' cosignatures of the log's checkpoints (C2SP tlog-witness),
-- served with the checkpoint, and what the log knows of each witness.
CREATE TABLE cosignatures (
  witness    TEXT    NOT NULL, -- the witness's key name
  size       INTEGER NOT NULL, -- the checkpoint's tree size
  line       TEXT    NOT NULL, -- the signed-note signature line
  created_us INTEGER NOT NULL,
  PRIMARY KEY (size, witness)
) WITHOUT ROWID;
CREATE TABLE witness_states (
  witness    TEXT    PRIMARY KEY,
  size       INTEGER NOT NULL, -- the latest size it cosigned, as far as the log knows
  last_error TEXT    NOT NULL, -- '' when the last submission succeeded
  updated_us INTEGER NOT NULL
);

-- Witnesses' cosignatures of the log's checkpoints (C2SP tlog-witness),
-- served with the checkpoint, and what the log knows of each witness.
CREATE TABLE cosignatures (
  witness    text   NOT NULL, -- the witness's key name
  size       bigint NOT NULL, -- the checkpoint's tree size
  line       text   NOT NULL, -- the signed-note signature line
  created_us bigint NOT NULL,
  PRIMARY KEY (size, witness)
);
CREATE TABLE witness_states (
  witness    text   PRIMARY KEY,
  size       bigint NOT NULL, -- the latest size it cosigned, as far as the log knows
  last_error text   NOT NULL, -- '' when the last submission succeeded
  updated_us bigint NOT NULL
);

-- Event ids are kept in five levels instead of three, each spanning four
-- times more activities than the one before instead of sixteen
-- (internal/sequencer's deferredIndex). They are random, so moving a level
-- into the next rewrites most pages of the next: with a second level of up
-- to 1,048,576 entries, each move of 65,536 late in that span rewrote
-- about 12,000 pages, and recording slowed down by a tenth until the
-- second level moved on. The entries stay where they are: every level is
-- read, and the moves that follow use the new spans.
CREATE TABLE middle_event_ids (
  event_id TEXT    PRIMARY KEY,
  id       INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE older_event_ids (
  event_id TEXT    PRIMARY KEY,
  id       INTEGER NOT NULL
) WITHOUT ROWID;

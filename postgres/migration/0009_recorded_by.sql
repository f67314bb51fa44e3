-- Provenance: every activity says who recorded it (auditlog.Recorder:
-- "auditlog", "token/3", "user/jdoe"), and its leaf holds that too. The
-- activities recorded before have '' and keep the leaf they were signed
-- with, which has no recorded_by (tlog.NewLeafTemplate); adding the column
-- with a constant default rewrites no row.
ALTER TABLE activities ADD COLUMN recorded_by text NOT NULL DEFAULT '';

-- Event ids are now de-duplicated per recorder: their keys are
-- '<recorder> <event id>'. Those recorded before have no known recorder,
-- so no retry can match them any more: they go.
TRUNCATE recent_event_ids, newer_event_ids, event_ids;

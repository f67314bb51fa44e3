-- A permission group whose only members are deleted users can be deleted:
-- the users stay (they may be restored, and the log names them), so the
-- group's row stays too, marked deleted and renamed "<name> (deleted
-- #<id>)" so that its name is free again. Deleted groups are listed and
-- found by no one; a user of one is moved to another group before being
-- restored.
ALTER TABLE permission_groups ADD COLUMN deleted_us INTEGER NOT NULL DEFAULT 0; -- 0: not deleted

-- The queue task that applies an operation. Operations accepted together
-- share one task, named by this id, so the sweeper can re-enqueue a lost
-- task as the same group instead of one task per operation. Operations
-- stored before this column existed have NULL: their task is named by
-- their own id.
ALTER TABLE operations ADD COLUMN task_id uuid;

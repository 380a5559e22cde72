ALTER TABLE operations DROP COLUMN task_id;

DROP FUNCTION uuid_v7();
DELETE FROM webhook_deliveries WHERE notification_id IN (SELECT id FROM notifications WHERE subject IS NOT NULL);
DELETE FROM notifications WHERE subject IS NOT NULL;
ALTER TABLE notifications DROP CONSTRAINT notifications_one_object;
ALTER TABLE notifications DROP COLUMN subject;

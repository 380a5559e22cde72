DROP TABLE outbox_epoch;
DROP TABLE notifications;

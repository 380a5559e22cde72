ALTER TABLE webhook_deliveries
    ADD CONSTRAINT webhook_deliveries_notification_id_fkey FOREIGN KEY (notification_id) REFERENCES notifications (id);

ALTER TABLE notifications
    ADD CONSTRAINT notifications_user_id_fkey FOREIGN KEY (user_id) REFERENCES users (id),
    ADD CONSTRAINT notifications_operation_id_fkey FOREIGN KEY (operation_id) REFERENCES operations (id);

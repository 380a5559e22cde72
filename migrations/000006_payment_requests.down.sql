ALTER TABLE operations
    DROP CONSTRAINT operation_request_links,
    DROP COLUMN payment_request_id;
DROP TABLE payment_requests;

DROP TABLE webhook_relay;
DROP INDEX notifications_relay;
DROP TABLE webhook_deliveries;
DROP TABLE webhooks;

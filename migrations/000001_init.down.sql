DROP TABLE idempotency_keys;
DROP TABLE entries;
DROP TABLE operations;
DROP TABLE settlement_shards;
DROP TABLE wallets;
DROP TABLE users;

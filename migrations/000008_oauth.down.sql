DROP TABLE oauth_signing_keys;
DROP TABLE oauth_revocations;
DROP TABLE oauth_refresh_tokens;
DROP TABLE oauth_codes;
DROP TABLE oauth_families;
DROP TABLE oauth_clients;

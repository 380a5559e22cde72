-- The events of holds, payment requests and withdrawals themselves
-- (hold.active, withdrawal.completed, ...): such a notification carries a
-- snapshot of its object's row as it was when the change committed
-- (to_jsonb of the row), since the object changes afterwards; an
-- operation's notification keeps pointing at its operation, which never
-- changes once final.
ALTER TABLE notifications ADD COLUMN subject jsonb;
ALTER TABLE notifications ADD CONSTRAINT notifications_one_object
    CHECK ((operation_id IS NULL) <> (subject IS NULL));

-- A UUIDv7 (RFC 9562) made in the database, for the events that a
-- statement writes itself (a payment request created, a withdrawal marked
-- processing): 48 bits of Unix milliseconds, then the random bits of a
-- v4 with its version turned into 7.
CREATE FUNCTION uuid_v7() RETURNS uuid LANGUAGE sql VOLATILE AS $$
    SELECT encode(set_bit(set_bit(overlay(uuid_send(gen_random_uuid())
        PLACING substring(int8send(floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint) FROM 3)
        FROM 1 FOR 6), 52, 1), 53, 1), 'hex')::uuid
$$;

-- ledger_assert raises an error, in the statement that calls it, when
-- ok is not true. The worker sends its batch's writes and its COMMIT in
-- one round trip, so a check of what a write did has to stop the
-- transaction in the server, before the COMMIT that follows it in the
-- pipeline runs (internal/postgres/apply.go).
CREATE FUNCTION ledger_assert(ok boolean, message text) RETURNS boolean
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    IF ok IS NOT TRUE THEN
        RAISE EXCEPTION 'ledger assertion failed: %', message USING ERRCODE = 'XX000';
    END IF;
    RETURN true;
END
$$;

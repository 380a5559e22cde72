-- A hold changes twice: pending -> active when its operation commits, and
-- active -> captured, voided or expired when it closes. holds_due named
-- status in its predicate, so both changes were non-HOT updates (a new
-- entry in every index of holds). The expiry sweep's index now names
-- closed_at, which the first change leaves alone: with room on the page
-- for one more version of the row, placing a hold costs one HOT update.
-- The sweep asks for open holds (closed_at IS NULL) and filters on status.
CREATE INDEX holds_open_due ON holds (expires_at) WHERE closed_at IS NULL;
DROP INDEX holds_due;
ALTER TABLE holds SET (fillfactor = 80);

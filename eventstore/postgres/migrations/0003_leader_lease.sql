-- The projector leadership becomes a lease with a fencing token, in place of
-- a session advisory lock (which a paused or partitioned leader keeps as
-- long as its connection looks alive, so no one takes over, and which
-- cannot stop a stale leader's writes).
--
-- leader_lease has one row. term counts the leaderships: each acquisition
-- adds one, so a term names one leadership and grows monotonically (the
-- fencing token). expires_at is on the server's clock; every comparison with
-- it uses clock_timestamp(), never a client's clock. holder_pid is the
-- backend of the holder's lease connection, 0 once released: when that
-- backend is gone (the process died) the lease may be taken before it
-- expires.
CREATE TABLE leader_lease (
	id          boolean PRIMARY KEY DEFAULT true CHECK (id),
	term        bigint NOT NULL,
	holder      text NOT NULL,
	holder_name text NOT NULL,
	holder_pid  integer NOT NULL,
	length      interval NOT NULL,
	expires_at  timestamptz NOT NULL
);
INSERT INTO leader_lease (term, holder, holder_name, holder_pid, length, expires_at)
VALUES (0, '', '', 0, interval '0', '-infinity');

-- ticketd_lease_fence is the fence of every write made as leader: called
-- first in the writing transaction, it returns true when term t is the
-- lease's current term and has not expired, and then keeps any takeover
-- from committing until the transaction ends: it holds the 'fence' advisory
-- lock in shared mode, which an acquisition takes exclusively before it
-- moves the term. It also bounds how long the transaction may sit idle to
-- the lease's length, so a leader paused inside it (SIGSTOP, a stall) is
-- cut off and cannot hold a takeover back for longer. false: the caller
-- must roll back.
CREATE FUNCTION ticketd_lease_fence(t bigint) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
	len interval;
BEGIN
	PERFORM pg_advisory_xact_lock_shared(ticketd_lock_key('fence'));
	SELECT l.length INTO len FROM leader_lease l WHERE l.term = t AND l.expires_at > clock_timestamp();
	IF NOT FOUND THEN
		RETURN false;
	END IF;
	PERFORM set_config('idle_in_transaction_session_timeout', ceil(extract(epoch FROM len) * 1000)::bigint::text, true);
	RETURN true;
END $$;

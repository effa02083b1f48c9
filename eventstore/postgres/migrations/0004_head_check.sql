-- Nothing is appended after a broken head. 0002's ticketd_append chained
-- the next event from whatever the last event's hash column held: after an
-- edit that set it to NULL or to text that is no hash, the log went on from
-- a value that proves nothing. It now refuses the whole group instead.

-- ticketd_append commits one group as 0002's does, with the same answer,
-- unless the hash of the log's last event, which the group chains from, is
-- NULL or not 64 lowercase hex digits (an edit made outside ticketd): then
-- it appends nothing and fails with SQLSTATE TD002, whose detail is
-- {"position": the head's position, "hash": its stored hash or null}.
CREATE OR REPLACE FUNCTION ticketd_append(jobs jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
	started timestamptz := clock_timestamp();
	waited interval;
	pos bigint := 0;
	h text := repeat('0', 64);
	start_pos bigint;
	start_hash text;
	job jsonb;
	r jsonb;
	results jsonb[] := '{}';
BEGIN
	PERFORM pg_advisory_xact_lock(ticketd_lock_key('append'));
	waited := clock_timestamp() - started;
	SELECT e.position, e.hash INTO pos, h FROM events e ORDER BY e.position DESC LIMIT 1;
	IF NOT FOUND THEN
		pos := 0;
		h := repeat('0', 64);
	ELSIF h IS NULL OR h !~ '^[0-9a-f]{64}$' THEN
		RAISE EXCEPTION USING ERRCODE = 'TD002', MESSAGE = 'the event log''s head has a broken hash',
			DETAIL = jsonb_build_object('position', pos, 'hash', h)::text;
	END IF;
	start_pos := pos;
	start_hash := h;
	FOR job IN SELECT * FROM jsonb_array_elements(jobs) LOOP
		IF (job->>'import')::boolean THEN
			BEGIN
				r := ticketd_import_job(job, pos, h);
			EXCEPTION WHEN SQLSTATE 'TD001' THEN
				r := jsonb_build_object('error', SQLERRM::jsonb);
			END;
		ELSE
			r := ticketd_append_job(job, pos, h);
		END IF;
		IF NOT r ? 'error' THEN
			pos := (r->>'position')::bigint;
			h := r->>'hash';
		END IF;
		results := results || r;
	END LOOP;
	IF pos <> start_pos THEN
		PERFORM pg_notify('ticketd.' || current_schema(), pos || ':' || h);
	END IF;
	RETURN jsonb_build_object('results', to_jsonb(results), 'start_position', start_pos, 'start_hash', start_hash,
		'waited_us', (extract(epoch FROM waited) * 1000000)::bigint);
END $$;

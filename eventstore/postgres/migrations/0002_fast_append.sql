-- The same append, results and hash chain as 0001, without its per-append
-- server cost (measured on PostgreSQL 15, one group of 26 issues: 10–45 ms
-- inside ticketd_append, most of it in calls of SQL-language functions that
-- the planner cannot inline, so each call parses and plans its body again):
--
-- * ticketd_hash and ticketd_stream_version are PL/pgSQL, whose statements
--   are planned once per session (hash 80–216 µs → 11 µs a call, version
--   41 → 5 µs).
-- * An append checks its idempotency key and expected versions before it
--   writes anything and answers a failure as its result, so it needs no
--   subtransaction (a BEGIN … EXCEPTION block): a group of more than 64
--   writing subtransactions overflows every snapshot's subtransaction cache.
--   The checks are exact because every writer holds the append lock.
--   Imports, which fail after writing, keep their subtransaction.

CREATE OR REPLACE FUNCTION ticketd_hash(prev text, pos bigint, id text, stream text, ver bigint, typ text, at text, data text, meta text) RETURNS text
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
	p text := pos::text;
	v text := ver::text;
BEGIN
	RETURN encode(sha256(
		CASE WHEN prev ~ '^[0-9a-fA-F]{64}$' THEN decode(prev, 'hex') ELSE convert_to(prev, 'UTF8') END
		|| int4send(octet_length(convert_to(p, 'UTF8'))) || convert_to(p, 'UTF8')
		|| int4send(octet_length(convert_to(id, 'UTF8'))) || convert_to(id, 'UTF8')
		|| int4send(octet_length(convert_to(stream, 'UTF8'))) || convert_to(stream, 'UTF8')
		|| int4send(octet_length(convert_to(v, 'UTF8'))) || convert_to(v, 'UTF8')
		|| int4send(octet_length(convert_to(typ, 'UTF8'))) || convert_to(typ, 'UTF8')
		|| int4send(octet_length(convert_to(at, 'UTF8'))) || convert_to(at, 'UTF8')
		|| int4send(octet_length(convert_to(data, 'UTF8'))) || convert_to(data, 'UTF8')
		|| int4send(octet_length(convert_to(meta, 'UTF8'))) || convert_to(meta, 'UTF8')), 'hex');
END $$;

-- ticketd_field is no longer used: ticketd_hash spells its fields out.
DROP FUNCTION ticketd_field(text);

CREATE OR REPLACE FUNCTION ticketd_stream_version(stream text) RETURNS bigint
LANGUAGE plpgsql STABLE AS $$
BEGIN
	RETURN (SELECT COALESCE(MAX(version), 0) FROM events WHERE stream_id = stream);
END $$;

-- ticketd_append_job writes one append after (pos, h) and returns the new
-- tip as {"position", "hash"}, or {"error": job error} having written
-- nothing when the idempotency key is taken or a stream is not at its
-- expected version. The job's shape is 0001's.
CREATE OR REPLACE FUNCTION ticketd_append_job(job jsonb, pos bigint, h text) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
	idem jsonb := job->'idempotency';
	existing jsonb;
	stream jsonb;
	e jsonb;
	ids text[] := '{}';
	versions bigint[] := '{}';
	current_version bigint;
	idx int;
	at text := job->>'occurred_at';
	meta text := job->>'metadata';
BEGIN
	IF jsonb_typeof(idem) = 'object' THEN
		SELECT jsonb_build_object('key', k.key, 'endpoint', k.endpoint, 'fingerprint', k.fingerprint, 'status', k.status,
			'body', encode(k.body, 'hex'), 'position', k.position, 'created_at', k.created_at)
		INTO existing FROM idempotency_keys k WHERE k.key = idem->>'key';
		IF FOUND THEN
			RETURN jsonb_build_object('error', jsonb_build_object('kind', 'key_taken', 'existing', existing));
		END IF;
	END IF;
	FOR stream IN SELECT * FROM jsonb_array_elements(job->'streams') LOOP
		current_version := ticketd_stream_version(stream->>'id');
		IF current_version <> (stream->>'expected')::bigint THEN
			RETURN jsonb_build_object('error', jsonb_build_object('kind', 'conflict', 'stream', stream->>'id',
				'current', current_version, 'expected', (stream->>'expected')::bigint));
		END IF;
		ids := ids || (stream->>'id');
		versions := versions || current_version;
	END LOOP;
	IF jsonb_typeof(idem) = 'object' THEN
		INSERT INTO idempotency_keys (key, endpoint, fingerprint, status, body, position, created_at)
		VALUES (idem->>'key', idem->>'endpoint', idem->>'fingerprint', (idem->>'status')::int, decode(idem->>'body', 'hex'),
			pos + jsonb_array_length(job->'events'), at);
	END IF;
	FOR e IN SELECT * FROM jsonb_array_elements(job->'events') LOOP
		idx := (e->>'s')::int + 1;
		versions[idx] := versions[idx] + 1;
		pos := pos + 1;
		INSERT INTO events (position, id, stream_id, version, type, occurred_at, data, metadata, prev_hash, hash)
		VALUES (pos, e->>'id', ids[idx], versions[idx], e->>'type', at, e->>'data', meta, h,
			ticketd_hash(h, pos, e->>'id', ids[idx], versions[idx], e->>'type', at, e->>'data', meta))
		RETURNING hash INTO h;
	END LOOP;
	RETURN jsonb_build_object('position', pos, 'hash', h);
END $$;

-- ticketd_append commits one group as 0001's does, with the same answer;
-- only import jobs run in a subtransaction of their own.
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

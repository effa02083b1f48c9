-- The event log, idempotency records, checkpoints and the write probe, and
-- the server-side append that assigns positions and the hash chain under the
-- global append lock. Names are unqualified: they live in the first schema of
-- the connection's search_path (Options.Schema).

CREATE TABLE events (
	position    bigint PRIMARY KEY,
	id          text   NOT NULL UNIQUE,
	stream_id   text   NOT NULL,
	version     bigint NOT NULL,
	type        text   NOT NULL,
	occurred_at text   NOT NULL,
	data        text   NOT NULL,
	metadata    text   NOT NULL,
	prev_hash   text   UNIQUE,
	hash        text,
	CONSTRAINT events_stream_version UNIQUE (stream_id, version)
);
CREATE INDEX events_type_position ON events (type, position);
CREATE INDEX events_stream_occurred ON events (stream_id, occurred_at);

CREATE TABLE idempotency_keys (
	key         text    PRIMARY KEY,
	endpoint    text    NOT NULL,
	fingerprint text    NOT NULL,
	status      integer NOT NULL,
	body        bytea   NOT NULL,
	position    bigint  NOT NULL,
	created_at  text    NOT NULL
);
CREATE INDEX idempotency_keys_created_at ON idempotency_keys (created_at);

CREATE TABLE checkpoints (
	name     text   PRIMARY KEY,
	position bigint NOT NULL
);

CREATE TABLE write_probe (
	id         integer PRIMARY KEY,
	checked_at text    NOT NULL
);

-- ticketd_lock_key is the advisory lock key of purpose ('append',
-- 'instance') for the tables of the current schema.
CREATE FUNCTION ticketd_lock_key(purpose text) RETURNS bigint
LANGUAGE sql STABLE AS $$ SELECT hashtextextended('ticketd ' || purpose || ' ' || current_schema(), 0) $$;

-- ticketd_field is field(x) of eventstore.Record.ComputeHash: x's length as
-- 4 bytes big-endian, then x's UTF-8 bytes.
CREATE FUNCTION ticketd_field(x text) RETURNS bytea
LANGUAGE sql IMMUTABLE STRICT AS $$ SELECT int4send(octet_length(convert_to(x, 'UTF8'))) || convert_to(x, 'UTF8') $$;

-- ticketd_hash is eventstore.Record.ComputeHash, byte for byte.
CREATE FUNCTION ticketd_hash(prev text, pos bigint, id text, stream text, ver bigint, typ text, at text, data text, meta text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
	SELECT encode(sha256(
		CASE WHEN prev ~ '^[0-9a-fA-F]{64}$' THEN decode(prev, 'hex') ELSE convert_to(prev, 'UTF8') END
		|| ticketd_field(pos::text) || ticketd_field(id) || ticketd_field(stream) || ticketd_field(ver::text)
		|| ticketd_field(typ) || ticketd_field(at) || ticketd_field(data) || ticketd_field(meta)), 'hex')
$$;

-- ticketd_fail aborts the current job with a job error: SQLSTATE TD001 and
-- the error object as message, which ticketd_append answers for that job.
CREATE FUNCTION ticketd_fail(err jsonb) RETURNS void
LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION USING ERRCODE = 'TD001', MESSAGE = err::text; END $$;

-- ticketd_stream_version is the version of stream's last event, 0 when none.
CREATE FUNCTION ticketd_stream_version(stream text) RETURNS bigint
LANGUAGE sql STABLE AS $$ SELECT COALESCE(MAX(version), 0) FROM events WHERE stream_id = stream $$;

-- ticketd_insert_event inserts one event chained from prev and returns its hash.
CREATE FUNCTION ticketd_insert_event(pos bigint, id text, stream text, ver bigint, typ text, at text, data text, meta text, prev text, hash text) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO events (position, id, stream_id, version, type, occurred_at, data, metadata, prev_hash, hash)
	VALUES (pos, id, stream, ver, typ, at, data, meta, prev, hash);
	RETURN hash;
END $$;

-- ticketd_append_job writes one append after (pos, h) and returns the new
-- tip as {"position", "hash"}. A job is {"streams": [{"id", "expected"}],
-- "events": [{"s": stream index, "id", "type", "data"}], "occurred_at",
-- "metadata", "idempotency": null or {"key", "endpoint", "fingerprint",
-- "status", "body" (hex)}}. A version conflict or a taken key fails the job
-- through ticketd_fail.
CREATE FUNCTION ticketd_append_job(job jsonb, pos bigint, h text) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
	idem jsonb := job->'idempotency';
	existing jsonb;
	stream jsonb;
	e jsonb;
	versions bigint[] := '{}';
	current_version bigint;
	idx int;
	at text := job->>'occurred_at';
	meta text := job->>'metadata';
BEGIN
	IF jsonb_typeof(idem) = 'object' THEN
		INSERT INTO idempotency_keys (key, endpoint, fingerprint, status, body, position, created_at)
		VALUES (idem->>'key', idem->>'endpoint', idem->>'fingerprint', (idem->>'status')::int, decode(idem->>'body', 'hex'),
			pos + jsonb_array_length(job->'events'), at)
		ON CONFLICT (key) DO NOTHING;
		IF NOT FOUND THEN
			SELECT jsonb_build_object('key', k.key, 'endpoint', k.endpoint, 'fingerprint', k.fingerprint, 'status', k.status,
				'body', encode(k.body, 'hex'), 'position', k.position, 'created_at', k.created_at)
			INTO existing FROM idempotency_keys k WHERE k.key = idem->>'key';
			PERFORM ticketd_fail(jsonb_build_object('kind', 'key_taken', 'existing', existing));
		END IF;
	END IF;
	FOR stream IN SELECT * FROM jsonb_array_elements(job->'streams') LOOP
		current_version := ticketd_stream_version(stream->>'id');
		IF current_version <> (stream->>'expected')::bigint THEN
			PERFORM ticketd_fail(jsonb_build_object('kind', 'conflict', 'stream', stream->>'id',
				'current', current_version, 'expected', (stream->>'expected')::bigint));
		END IF;
		versions := versions || current_version;
	END LOOP;
	FOR e IN SELECT * FROM jsonb_array_elements(job->'events') LOOP
		idx := (e->>'s')::int + 1;
		versions[idx] := versions[idx] + 1;
		pos := pos + 1;
		stream := job->'streams'->(idx - 1);
		h := ticketd_insert_event(pos, e->>'id', stream->>'id', versions[idx], e->>'type', at, e->>'data', meta, h,
			ticketd_hash(h, pos, e->>'id', stream->>'id', versions[idx], e->>'type', at, e->>'data', meta));
	END LOOP;
	RETURN jsonb_build_object('position', pos, 'hash', h);
END $$;

-- ticketd_import_job writes records exported by a ticketd, as they are, after
-- (pos, h) and returns the new tip. A job is {"records": [Record JSON with
-- data and metadata as strings]}. A record that does not continue the chain
-- or its stream fails the job through ticketd_fail.
CREATE FUNCTION ticketd_import_job(job jsonb, pos bigint, h text) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
	r jsonb;
	p bigint;
	ver bigint;
	current_version bigint;
BEGIN
	FOR r IN SELECT * FROM jsonb_array_elements(job->'records') LOOP
		p := (r->>'position')::bigint;
		ver := (r->>'version')::bigint;
		IF p <> pos + 1 THEN
			PERFORM ticketd_fail(jsonb_build_object('kind', 'chain', 'message', format('position %s follows %s', p, pos)));
		END IF;
		IF r->>'prev_hash' <> h THEN
			PERFORM ticketd_fail(jsonb_build_object('kind', 'chain', 'message',
				format('position %s: prev_hash %s is not the hash of position %s', p, r->>'prev_hash', pos)));
		END IF;
		IF ticketd_hash(h, p, r->>'id', r->>'stream_id', ver, r->>'type', r->>'occurred_at', r->>'data', r->>'metadata') <> r->>'hash' THEN
			PERFORM ticketd_fail(jsonb_build_object('kind', 'chain', 'message',
				format('position %s: content does not match its hash %s', p, r->>'hash')));
		END IF;
		current_version := ticketd_stream_version(r->>'stream_id');
		IF ver <> current_version + 1 THEN
			PERFORM ticketd_fail(jsonb_build_object('kind', 'conflict', 'message',
				format('position %s: stream %s is at version %s, event has %s', p, r->>'stream_id', current_version, ver)));
		END IF;
		h := ticketd_insert_event(p, r->>'id', r->>'stream_id', ver, r->>'type', r->>'occurred_at', r->>'data', r->>'metadata', h, r->>'hash');
		pos := p;
	END LOOP;
	RETURN jsonb_build_object('position', pos, 'hash', h);
END $$;

-- ticketd_append commits one group: it takes the global append lock (held
-- until the transaction ends, so every commit is visible before the next
-- group reads the tip), reads the tip, and runs each job ({"import": true}
-- marks an import job) in its own subtransaction, so a job that fails leaves
-- its neighbours intact. It answers {"results": [{"position", "hash"} or
-- {"error": job error}], "start_position", "start_hash": the tip it read,
-- "waited_us": time spent waiting for the lock} and
-- notifies channel 'ticketd.<schema>' with "position:hash" when the tip moved.
CREATE FUNCTION ticketd_append(jobs jsonb) RETURNS jsonb
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
	results jsonb := '[]';
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
		BEGIN
			IF (job->>'import')::boolean THEN
				r := ticketd_import_job(job, pos, h);
			ELSE
				r := ticketd_append_job(job, pos, h);
			END IF;
			pos := (r->>'position')::bigint;
			h := r->>'hash';
		EXCEPTION WHEN SQLSTATE 'TD001' THEN
			r := jsonb_build_object('error', SQLERRM::jsonb);
		END;
		results := results || jsonb_build_array(r);
	END LOOP;
	IF pos <> start_pos THEN
		PERFORM pg_notify('ticketd.' || current_schema(), pos || ':' || h);
	END IF;
	RETURN jsonb_build_object('results', results, 'start_position', start_pos, 'start_hash', start_hash, 'waited_us', (extract(epoch FROM waited) * 1000000)::bigint);
END $$;

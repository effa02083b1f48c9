-- Appends at any version (eventstore.AnyVersion): a stream whose "expected"
-- is -1 is not checked; its events continue from its version as read here,
-- under the append lock, after the group's earlier jobs, so concurrent
-- appends to one stream at any version all commit, versions gap-free.

-- ticketd_append_job is 0005's, with "expected" -1 taken as any version and
-- the streams' versions before the job in its answer: {"position", "hash",
-- "versions": [version of each stream of the job, in its order]}, from
-- which the client numbers the job's events as the database did.
CREATE OR REPLACE FUNCTION ticketd_append_job(job jsonb, pos bigint, h text) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
	idem jsonb := job->'idempotency';
	existing jsonb;
	refused jsonb;
	stream jsonb;
	e jsonb;
	ids text[] := '{}';
	versions bigint[] := '{}';
	started bigint[];
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
		IF (stream->>'expected')::bigint <> -1 AND current_version <> (stream->>'expected')::bigint THEN
			RETURN jsonb_build_object('error', jsonb_build_object('kind', 'conflict', 'stream', stream->>'id',
				'current', current_version, 'expected', (stream->>'expected')::bigint));
		END IF;
		ids := ids || (stream->>'id');
		versions := versions || current_version;
	END LOOP;
	started := versions;
	IF jsonb_typeof(job->'claims') = 'object' THEN
		refused := ticketd_claims(job->'claims', at);
		IF refused IS NOT NULL THEN
			RETURN jsonb_build_object('error', refused);
		END IF;
	END IF;
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
	RETURN jsonb_build_object('position', pos, 'hash', h, 'versions', to_jsonb(started));
END $$;

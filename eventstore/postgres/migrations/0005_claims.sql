-- Bounded counters with expiring reservations (eventstore.Claim), decided
-- inside ticketd_append_job under the global append lock, so the decision is
-- exact across every store on the database and needs no client round trip.
--
-- counters.used is a counter's settled amount. reservation_claims has a row
-- per claim of each live reservation, deleted when the reservation is
-- released or settled; the used amount at a time adds the rows whose
-- expires_at is after it. Times are domain.FormatTime text (as events'
-- occurred_at), compared in the "C" collation, where they order as the
-- times do.
CREATE TABLE counters (
	key  text   PRIMARY KEY,
	used bigint NOT NULL
);
CREATE TABLE reservations (
	id         text COLLATE "C" PRIMARY KEY,
	expires_at text COLLATE "C" NOT NULL,
	state      text NOT NULL CHECK (state IN ('live', 'released', 'settled', 'expired')),
	claims     jsonb NOT NULL
);
CREATE INDEX reservations_live_expiry ON reservations (expires_at, id) WHERE state = 'live';
CREATE TABLE reservation_claims (
	reservation_id text NOT NULL,
	counter        text NOT NULL,
	amount         bigint NOT NULL,
	expires_at     text COLLATE "C" NOT NULL
);
CREATE INDEX reservation_claims_counter ON reservation_claims (counter, expires_at);
CREATE INDEX reservation_claims_reservation ON reservation_claims (reservation_id);

-- ticketd_counter_used is what counter c has used at time t: its settled
-- amount and the amounts of its reservations live at t.
CREATE FUNCTION ticketd_counter_used(c text, t text) RETURNS bigint
LANGUAGE plpgsql STABLE AS $$
BEGIN
	RETURN COALESCE((SELECT u.used FROM counters u WHERE u.key = c), 0)
		+ COALESCE((SELECT SUM(r.amount) FROM reservation_claims r WHERE r.counter = c AND r.expires_at > t COLLATE "C"), 0);
END $$;

-- ticketd_claim checks claim c ({"counter", "limit", "amount"}) at time t,
-- delta being what the append's earlier parts changed of each counter's
-- used amount ({counter: change}): refused is the job error of a positive
-- amount that does not fit, else NULL and delta gains c's amount when
-- counts.
CREATE FUNCTION ticketd_claim(c jsonb, t text, counts boolean, INOUT delta jsonb, OUT refused jsonb)
LANGUAGE plpgsql AS $$
DECLARE
	counter text := c->>'counter';
	amount bigint := (c->>'amount')::bigint;
	lim bigint := (c->>'limit')::bigint;
	changed bigint := COALESCE((delta->>counter)::bigint, 0);
	used bigint;
BEGIN
	IF amount > 0 THEN
		used := ticketd_counter_used(counter, t) + changed;
		IF used + amount > lim THEN
			refused := jsonb_build_object('kind', 'limit', 'counter', counter, 'limit', lim, 'used', used);
			RETURN;
		END IF;
	END IF;
	IF counts THEN
		delta := jsonb_set(delta, ARRAY[counter], to_jsonb(changed + amount));
	END IF;
END $$;

-- ticketd_claims decides the claims part of an append at time t and
-- writes it, or writes nothing and returns the job error of the first part
-- that does not hold. b is {"end": [{"id", "state": "released"|"settled",
-- "claims": settled claims or null for the reservation's own}] (an expired
-- reservation cannot be settled; released, it is "expired"),
-- "claims": [claim], "reserve": [{"id", "expires_at", "claims": [claim]}]},
-- with releases before settlements in "end". Every part is checked first,
-- against the tables and what the parts before it changed, then all are
-- written, so a refused append needs no subtransaction. Callers hold the
-- append lock.
CREATE FUNCTION ticketd_claims(b jsonb, t text) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
	delta jsonb := '{}';
	ended jsonb := '{}';
	reserved jsonb := '{}';
	settled jsonb := '[]';
	refused jsonb;
	x jsonb;
	c jsonb;
	rid text;
	st text;
	exp text;
	stored jsonb;
BEGIN
	FOR x IN SELECT * FROM jsonb_array_elements(b->'end') LOOP
		rid := x->>'id';
		SELECT r.state, r.expires_at, r.claims INTO st, exp, stored FROM reservations r WHERE r.id = rid;
		IF NOT FOUND THEN
			st := 'unknown';
		END IF;
		st := COALESCE(ended->>rid, st);
		IF st <> 'live' THEN
			RETURN jsonb_build_object('kind', 'reservation', 'id', rid, 'state', st);
		ELSIF x->>'state' = 'settled' AND exp <= t COLLATE "C" THEN
			RETURN jsonb_build_object('kind', 'reservation', 'id', rid, 'state', 'expired');
		END IF;
		IF exp > t COLLATE "C" THEN
			ended := jsonb_set(ended, ARRAY[rid], to_jsonb(x->>'state'));
			FOR c IN SELECT * FROM jsonb_array_elements(stored) LOOP
				delta := jsonb_set(delta, ARRAY[c->>'counter'], to_jsonb(COALESCE((delta->>(c->>'counter'))::bigint, 0) - (c->>'amount')::bigint));
			END LOOP;
		ELSE
			ended := jsonb_set(ended, ARRAY[rid], '"expired"');
		END IF;
		IF x->>'state' = 'settled' THEN
			FOR c IN SELECT * FROM jsonb_array_elements(CASE WHEN jsonb_typeof(x->'claims') = 'array' THEN x->'claims' ELSE stored END) LOOP
				SELECT * INTO delta, refused FROM ticketd_claim(c, t, true, delta);
				IF refused IS NOT NULL THEN
					RETURN refused;
				END IF;
				settled := settled || c;
			END LOOP;
		END IF;
	END LOOP;
	FOR c IN SELECT * FROM jsonb_array_elements(b->'claims') LOOP
		SELECT * INTO delta, refused FROM ticketd_claim(c, t, true, delta);
		IF refused IS NOT NULL THEN
			RETURN refused;
		END IF;
		settled := settled || c;
	END LOOP;
	FOR x IN SELECT * FROM jsonb_array_elements(b->'reserve') LOOP
		rid := x->>'id';
		IF reserved ? rid OR EXISTS (SELECT FROM reservations r WHERE r.id = rid) THEN
			RETURN jsonb_build_object('kind', 'exists', 'id', rid);
		END IF;
		reserved := jsonb_set(reserved, ARRAY[rid], 'true');
		FOR c IN SELECT * FROM jsonb_array_elements(x->'claims') LOOP
			SELECT * INTO delta, refused FROM ticketd_claim(c, t, x->>'expires_at' > t COLLATE "C", delta);
			IF refused IS NOT NULL THEN
				RETURN refused;
			END IF;
		END LOOP;
	END LOOP;

	FOR rid, st IN SELECT * FROM jsonb_each_text(ended) LOOP
		UPDATE reservations SET state = st WHERE id = rid;
		DELETE FROM reservation_claims WHERE reservation_id = rid;
	END LOOP;
	INSERT INTO counters (key, used)
	SELECT v->>'counter', SUM((v->>'amount')::bigint) FROM jsonb_array_elements(settled) AS e(v) GROUP BY 1
	ON CONFLICT (key) DO UPDATE SET used = counters.used + excluded.used;
	FOR x IN SELECT * FROM jsonb_array_elements(b->'reserve') LOOP
		INSERT INTO reservations (id, expires_at, state, claims) VALUES (x->>'id', x->>'expires_at', 'live', x->'claims');
		INSERT INTO reservation_claims (reservation_id, counter, amount, expires_at)
		SELECT x->>'id', v->>'counter', (v->>'amount')::bigint, x->>'expires_at' FROM jsonb_array_elements(x->'claims') AS e(v);
	END LOOP;
	RETURN NULL;
END $$;

-- ticketd_append_job is 0002's, with the job's "claims" (see
-- ticketd_claims), when it has them, decided after its idempotency key and
-- expected versions and before anything is written: a refused job writes
-- nothing and answers {"error": job error}.
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
	RETURN jsonb_build_object('position', pos, 'hash', h);
END $$;

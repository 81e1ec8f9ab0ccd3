"""PL/pgSQL of revision 0004: the append stores what the client prepared.

The client (store/append.py) validates the batch, computes each event's content digest
(store/hashing.py, byte for byte `df_event_digest`) and folds the batch onto the need's
summary row (store/fold.py). `df_append` then does only what needs the lock: check the head,
tell a retry from a conflict, chain the digests, insert the events, move the head, write the
summary row and add the monthly credits — one statement, one transaction, all or nothing.

The summary row is written only over the row of `expected_version`; a row at another version
raises SQLSTATE DF001 (nothing is written) and the client folds again from the stored events
and sends that row with `p_refolded`, which replaces whatever row is stored.

Frozen: literal text as the revision shipped (rendered from the column and counter
lists of that day); never edit a shipped revision, add a new one.
"""

RETRY = """
CREATE OR REPLACE FUNCTION df_retry_status(
    p_stream text, p_expected integer, p_event_ids text[], p_digests bytea[], p_actual integer
) RETURNS text LANGUAGE plpgsql AS $fn$
DECLARE
    prev bytea; r record;
BEGIN
    -- A retry is the same ids at the same versions with the same content (same chained hash).
    IF p_actual < p_expected + cardinality(p_event_ids) THEN
        RETURN 'version';
    END IF;
    prev := CASE WHEN p_expected = 0 THEN ''::bytea ELSE
        (SELECT hash FROM events WHERE stream_id = p_stream AND version = p_expected) END;
    FOR r IN
        SELECT x.event_id AS sent_id, x.digest, ev.event_id, ev.hash
        FROM unnest(p_event_ids, p_digests) WITH ORDINALITY AS x(event_id, digest, i)
        LEFT JOIN events ev ON ev.stream_id = p_stream AND ev.version = p_expected + x.i
        ORDER BY x.i
    LOOP
        IF r.event_id IS DISTINCT FROM r.sent_id THEN
            RETURN 'version';
        END IF;
        IF r.hash IS DISTINCT FROM sha256(prev || r.digest) THEN
            RETURN 'same event ids, different content';
        END IF;
        prev := r.hash;
    END LOOP;
    RETURN NULL;
END
$fn$;
"""

APPEND = """
CREATE OR REPLACE FUNCTION df_append(
    p_stream text, p_expected integer, p_event_ids text[], p_types text[],
    p_schema_versions integer[], p_payloads jsonb[], p_actor_ids text[], p_actor_roles text[],
    p_actor_units text[], p_occurred_at timestamptz[], p_digests bytea[],
    p_summary need_summary, p_credits unit_monthly_stat_slots[], p_refolded boolean,
    OUT status text, OUT actual integer, OUT reason text
) LANGUAGE plpgsql AS $fn$
DECLARE
    h bytea; hashes bytea[]; n integer := cardinality(p_event_ids);
BEGIN
    -- The head row lock serialises writers of one stream; other streams do not wait.
    SELECT version, hash INTO actual, h FROM stream_heads WHERE stream_id = p_stream FOR UPDATE;
    IF NOT FOUND THEN
        IF p_expected <> 0 THEN
            status := 'conflict'; actual := 0; reason := 'version';
            RETURN;
        END IF;
        INSERT INTO stream_heads (stream_id, version, hash) VALUES (p_stream, 0, ''::bytea)
            ON CONFLICT DO NOTHING;
        IF FOUND THEN
            actual := 0; h := ''::bytea;
        ELSE  -- a concurrent writer created the stream first: its head is committed now
            SELECT version, hash INTO actual, h FROM stream_heads
                WHERE stream_id = p_stream FOR UPDATE;
        END IF;
    END IF;
    IF actual <> p_expected THEN
        reason := df_retry_status(p_stream, p_expected, p_event_ids, p_digests, actual);
        status := CASE WHEN reason IS NULL THEN 'duplicate' ELSE 'conflict' END;
        RETURN;
    END IF;
    IF n = 1 THEN
        h := sha256(h || p_digests[1]);
        INSERT INTO events (stream_id, version, event_id, type, schema_version, payload, actor_id, actor_role, actor_unit, occurred_at, hash)
        VALUES (p_stream, p_expected + 1, p_event_ids[1], p_types[1], p_schema_versions[1],
                p_payloads[1], p_actor_ids[1], p_actor_roles[1], p_actor_units[1],
                p_occurred_at[1], h);
    ELSE
        FOR i IN 1 .. n LOOP
            h := sha256(h || p_digests[i]);
            hashes[i] := h;
        END LOOP;
        INSERT INTO events (stream_id, version, event_id, type, schema_version, payload, actor_id, actor_role, actor_unit, occurred_at, hash)
        SELECT p_stream, p_expected + x.i, x.event_id, x.type, x.schema_version, x.payload,
               x.actor_id, x.actor_role, x.actor_unit, x.occurred_at, x.hash
        FROM unnest(p_event_ids, p_types, p_schema_versions, p_payloads, p_actor_ids,
                    p_actor_roles, p_actor_units, p_occurred_at, hashes)
             WITH ORDINALITY AS x(event_id, type, schema_version, payload, actor_id,
                                  actor_role, actor_unit, occurred_at, hash, i);
    END IF;
    UPDATE stream_heads SET version = p_expected + n, hash = h, updated_at = now()
        WHERE stream_id = p_stream;
    p_summary.updated_at := now();
    UPDATE need_summary SET stage = p_summary.stage, channel = p_summary.channel, external_id = p_summary.external_id, title = p_summary.title, category = p_summary.category, tier = p_summary.tier, urgency = p_summary.urgency, assigned_unit = p_summary.assigned_unit, unit_kind = p_summary.unit_kind, task = p_summary.task, due_at = p_summary.due_at, overdue = p_summary.overdue, escalations = p_summary.escalations, returns = p_summary.returns, reopenings = p_summary.reopenings, extensions = p_summary.extensions, linked_reports = p_summary.linked_reports, submitted_at = p_summary.submitted_at, accepted_at = p_summary.accepted_at, completed_at = p_summary.completed_at, closed_at = p_summary.closed_at, outcome = p_summary.outcome, satisfied = p_summary.satisfied, requester_id = p_summary.requester_id, requester_kind = p_summary.requester_kind, requester_name = p_summary.requester_name, requester_phone = p_summary.requester_phone, organisation = p_summary.organisation, street = p_summary.street, community = p_summary.community, grid = p_summary.grid, building = p_summary.building, address = p_summary.address, last_version = p_summary.last_version, updated_at = p_summary.updated_at
        WHERE stream_id = p_stream AND (last_version = p_expected OR p_refolded);
    IF NOT FOUND THEN
        IF p_expected > 0 AND EXISTS (SELECT FROM need_summary WHERE stream_id = p_stream) THEN
            RAISE EXCEPTION 'need_summary of this stream is not at version %', p_expected
                USING ERRCODE = 'DF001';
        END IF;
        INSERT INTO need_summary SELECT (p_summary).*
            ON CONFLICT (stream_id) DO UPDATE SET stage = excluded.stage, channel = excluded.channel, external_id = excluded.external_id, title = excluded.title, category = excluded.category, tier = excluded.tier, urgency = excluded.urgency, assigned_unit = excluded.assigned_unit, unit_kind = excluded.unit_kind, task = excluded.task, due_at = excluded.due_at, overdue = excluded.overdue, escalations = excluded.escalations, returns = excluded.returns, reopenings = excluded.reopenings, extensions = excluded.extensions, linked_reports = excluded.linked_reports, submitted_at = excluded.submitted_at, accepted_at = excluded.accepted_at, completed_at = excluded.completed_at, closed_at = excluded.closed_at, outcome = excluded.outcome, satisfied = excluded.satisfied, requester_id = excluded.requester_id, requester_kind = excluded.requester_kind, requester_name = excluded.requester_name, requester_phone = excluded.requester_phone, organisation = excluded.organisation, street = excluded.street, community = excluded.community, grid = excluded.grid, building = excluded.building, address = excluded.address, last_version = excluded.last_version, updated_at = excluded.updated_at;
    END IF;
    IF cardinality(p_credits) > 0 THEN
        INSERT INTO unit_monthly_stat_slots AS u (unit_id, month, slot, assigned, accepted, accepted_in_time, completed, completed_in_time, evaluations, satisfied, unsatisfied, no_response, returns, reopened, overdue)
        SELECT x.unit_id, x.month, pg_backend_pid() % 32, assigned, accepted, accepted_in_time, completed, completed_in_time, evaluations, satisfied, unsatisfied, no_response, returns, reopened, overdue
        FROM unnest(p_credits) AS x
        ON CONFLICT (unit_id, month, slot) DO UPDATE SET assigned = u.assigned + excluded.assigned, accepted = u.accepted + excluded.accepted, accepted_in_time = u.accepted_in_time + excluded.accepted_in_time, completed = u.completed + excluded.completed, completed_in_time = u.completed_in_time + excluded.completed_in_time, evaluations = u.evaluations + excluded.evaluations, satisfied = u.satisfied + excluded.satisfied, unsatisfied = u.unsatisfied + excluded.unsatisfied, no_response = u.no_response + excluded.no_response, returns = u.returns + excluded.returns, reopened = u.reopened + excluded.reopened, overdue = u.overdue + excluded.overdue;
    END IF;
    status := 'ok'; actual := p_expected + n;
END
$fn$;
"""

DROP_OLD = """
DROP FUNCTION IF EXISTS df_rebuild_projections();
DROP FUNCTION IF EXISTS append_events(text, integer, jsonb);
DROP FUNCTION IF EXISTS df_check_retry(text, integer, jsonb, integer);
DROP FUNCTION IF EXISTS df_project(text, jsonb);
DROP FUNCTION IF EXISTS df_mask_text(text);
DROP FUNCTION IF EXISTS df_mask_phone(text);
DROP TYPE IF EXISTS df_stat_delta;
"""

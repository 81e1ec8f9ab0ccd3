"""PL/pgSQL of revision 0004: the append stores what the client prepared.

The client (store/append.py) validates the batch, computes each event's content digest
(store/hashing.py, byte for byte `df_event_digest`) and folds the batch onto the need's
summary row (store/fold.py). `df_append` then does only what needs the lock: check the head,
tell a retry from a conflict, chain the digests, insert the events, move the head, write the
summary row and add the monthly credits — one statement, one transaction, all or nothing.

The summary row is written only over the row of `expected_version`; a row at another version
raises SQLSTATE DF001 (nothing is written) and the client folds again from the stored events
and sends that row with `p_refolded`, which replaces whatever row is stored.
"""

from store.migrations.sql_0001_tables import NEED_SUMMARY_COLUMNS, STAT_COUNTERS, STAT_SLOTS

_EVENT_COLUMNS = ("stream_id, version, event_id, type, schema_version, payload, actor_id, "
                  "actor_role, actor_unit, occurred_at, hash")
_SUMMARY = [c for c, _ in NEED_SUMMARY_COLUMNS[1:]]
_SUMMARY_SET = ", ".join(f"{c} = p_summary.{c}" for c in _SUMMARY)
_SUMMARY_UPSERT = ", ".join(f"{c} = excluded.{c}" for c in _SUMMARY)
_COUNTERS = ", ".join(STAT_COUNTERS)
_ADD = ", ".join(f"{c} = u.{c} + excluded.{c}" for c in STAT_COUNTERS)

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

APPEND = f"""
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
        INSERT INTO events ({_EVENT_COLUMNS})
        VALUES (p_stream, p_expected + 1, p_event_ids[1], p_types[1], p_schema_versions[1],
                p_payloads[1], p_actor_ids[1], p_actor_roles[1], p_actor_units[1],
                p_occurred_at[1], h);
    ELSE
        FOR i IN 1 .. n LOOP
            h := sha256(h || p_digests[i]);
            hashes[i] := h;
        END LOOP;
        INSERT INTO events ({_EVENT_COLUMNS})
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
    UPDATE need_summary SET {_SUMMARY_SET}
        WHERE stream_id = p_stream AND (last_version = p_expected OR p_refolded);
    IF NOT FOUND THEN
        IF p_expected > 0 AND EXISTS (SELECT FROM need_summary WHERE stream_id = p_stream) THEN
            RAISE EXCEPTION 'need_summary of this stream is not at version %', p_expected
                USING ERRCODE = 'DF001';
        END IF;
        INSERT INTO need_summary SELECT (p_summary).*
            ON CONFLICT (stream_id) DO UPDATE SET {_SUMMARY_UPSERT};
    END IF;
    IF cardinality(p_credits) > 0 THEN
        INSERT INTO unit_monthly_stat_slots AS u (unit_id, month, slot, {_COUNTERS})
        SELECT x.unit_id, x.month, pg_backend_pid() % {STAT_SLOTS}, {_COUNTERS}
        FROM unnest(p_credits) AS x
        ON CONFLICT (unit_id, month, slot) DO UPDATE SET {_ADD};
    END IF;
    status := 'ok'; actual := p_expected + n;
END
$fn$;
"""

# Superseded by df_append and store/fold.py: the rules now live in Python only.
DROP_OLD = """
DROP FUNCTION IF EXISTS df_rebuild_projections();
DROP FUNCTION IF EXISTS append_events(text, integer, jsonb);
DROP FUNCTION IF EXISTS df_check_retry(text, integer, jsonb, integer);
DROP FUNCTION IF EXISTS df_project(text, jsonb);
DROP FUNCTION IF EXISTS df_mask_text(text);
DROP FUNCTION IF EXISTS df_mask_phone(text);
DROP TYPE IF EXISTS df_stat_delta;
"""

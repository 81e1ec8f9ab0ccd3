"""PL/pgSQL of revision 0001: append_events (one round trip per batch) and the rebuild."""

# Each element of p_events: event_id, type, schema_version, payload, actor_id, actor_role,
# actor_unit, occurred_at, version. Hashes: sha256(previous hash || df_event_digest(event)).
DIGEST = """df_event_digest(p_stream, (p_expected + {i})::integer, {e}->>'event_id', {e}->>'type',
    ({e}->>'schema_version')::integer, {e}->'payload', {e}->>'actor_id', {e}->>'actor_role',
    {e}->>'actor_unit', ({e}->>'occurred_at')::timestamptz)"""

APPEND = (
    """
CREATE OR REPLACE FUNCTION df_check_retry(
    p_stream text, p_expected integer, p_events jsonb, p_actual integer
) RETURNS jsonb LANGUAGE plpgsql AS $fn$
DECLARE
    prev bytea; r record;
BEGIN
    -- A retry is the same ids at the same versions with the same content (same chained hash).
    IF p_actual < p_expected + jsonb_array_length(p_events) THEN
        RETURN jsonb_build_object('status', 'conflict', 'actual', p_actual, 'reason', 'version');
    END IF;
    prev := CASE WHEN p_expected = 0 THEN ''::bytea ELSE
        (SELECT hash FROM events WHERE stream_id = p_stream AND version = p_expected) END;
    FOR r IN
        SELECT x.e, x.i, ev.event_id, ev.hash
        FROM jsonb_array_elements(p_events) WITH ORDINALITY AS x(e, i)
        LEFT JOIN events ev ON ev.stream_id = p_stream AND ev.version = p_expected + x.i
        ORDER BY x.i
    LOOP
        IF r.event_id IS DISTINCT FROM r.e->>'event_id' THEN
            RETURN jsonb_build_object('status', 'conflict', 'actual', p_actual,
                                      'reason', 'version');
        END IF;
        IF r.hash IS DISTINCT FROM sha256(prev || """
    + DIGEST.format(i="r.i", e="r.e")
    + """) THEN
            RETURN jsonb_build_object('status', 'conflict', 'actual', p_actual,
                                      'reason', 'same event ids, different content');
        END IF;
        prev := r.hash;
    END LOOP;
    RETURN jsonb_build_object('status', 'duplicate',
                              'version', p_expected + jsonb_array_length(p_events));
END
$fn$;

CREATE OR REPLACE FUNCTION append_events(p_stream text, p_expected integer, p_events jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $fn$
DECLARE
    head_version integer; h bytea; hashes bytea[] := '{}'; e jsonb; i integer := 0;
    n integer := jsonb_array_length(p_events);
BEGIN
    -- The head row lock serialises writers of one stream; other streams do not wait.
    SELECT version, hash INTO head_version, h FROM stream_heads
        WHERE stream_id = p_stream FOR UPDATE;
    IF NOT FOUND THEN
        IF p_expected <> 0 THEN
            RETURN jsonb_build_object('status', 'conflict', 'actual', 0, 'reason', 'version');
        END IF;
        INSERT INTO stream_heads (stream_id, version, hash) VALUES (p_stream, 0, ''::bytea)
            ON CONFLICT DO NOTHING;
        IF FOUND THEN
            head_version := 0; h := ''::bytea;
        ELSE  -- a concurrent writer created the stream first: its head is committed now
            SELECT version, hash INTO head_version, h FROM stream_heads
                WHERE stream_id = p_stream FOR UPDATE;
        END IF;
    END IF;
    IF head_version <> p_expected THEN
        RETURN df_check_retry(p_stream, p_expected, p_events, head_version);
    END IF;
    FOR e IN SELECT value FROM jsonb_array_elements(p_events) LOOP
        i := i + 1;
        h := sha256(h || """
    + DIGEST.format(i="i", e="e")
    + """);
        hashes := hashes || h;
    END LOOP;
    INSERT INTO events (stream_id, version, event_id, type, schema_version, payload,
                        actor_id, actor_role, actor_unit, occurred_at, hash)
    SELECT p_stream, p_expected + x.i, x.e->>'event_id', x.e->>'type',
           (x.e->>'schema_version')::integer, x.e->'payload', x.e->>'actor_id',
           x.e->>'actor_role', x.e->>'actor_unit', (x.e->>'occurred_at')::timestamptz,
           hashes[x.i]
    FROM jsonb_array_elements(p_events) WITH ORDINALITY AS x(e, i);
    UPDATE stream_heads SET version = p_expected + n, hash = h, updated_at = now()
        WHERE stream_id = p_stream;
    PERFORM df_project(p_stream, p_events);
    RETURN jsonb_build_object('status', 'ok', 'version', p_expected + n);
END
$fn$;
"""
)

REBUILD = """
CREATE OR REPLACE FUNCTION df_rebuild_projections() RETURNS integer
LANGUAGE plpgsql AS $fn$
DECLARE
    r record; streams integer := 0;
BEGIN
    -- TRUNCATE's lock makes concurrent appends wait and then fold onto the rebuilt rows.
    TRUNCATE need_summary, unit_monthly_stat_slots;
    FOR r IN
        SELECT stream_id, jsonb_agg(jsonb_build_object(
                   'version', version, 'type', type, 'payload', payload,
                   'occurred_at', occurred_at) ORDER BY version) AS evs
        FROM events GROUP BY stream_id ORDER BY stream_id
    LOOP
        PERFORM df_project(r.stream_id, r.evs);
        streams := streams + 1;
    END LOOP;
    RETURN streams;
END
$fn$;
"""

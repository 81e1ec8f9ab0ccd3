"""PL/pgSQL of revision 0005: a single event takes a scalar path.

Many appends carry one event (an acceptance, a progress note, a reminder, a timer's warning).
`df_append_one` takes that event as plain parameters instead of nine one-element arrays, and
moves the stream head with one compare-and-set `UPDATE ... WHERE version = p_expected`
instead of a locking read and an update. The row lock the UPDATE takes serialises writers of a stream as before; under READ
COMMITTED a writer that waited re-checks the condition against the committed head, so two
writers can never both pass. When the head is not at `p_expected` (a new stream, a retry, a
conflict) nothing has been written and the call is handed whole to `df_append`, which sorts
those cases out: one set of rules for them.

Summary row and monthly credits are written as `df_append` writes them (revision 0004).
"""

from store.migrations.sql_0001_tables import NEED_SUMMARY_COLUMNS, STAT_COUNTERS, STAT_SLOTS

_EVENT_COLUMNS = ("stream_id, version, event_id, type, schema_version, payload, actor_id, "
                  "actor_role, actor_unit, occurred_at, hash")
_SUMMARY = [c for c, _ in NEED_SUMMARY_COLUMNS[1:]]
_SUMMARY_SET = ", ".join(f"{c} = p_summary.{c}" for c in _SUMMARY)
_SUMMARY_UPSERT = ", ".join(f"{c} = excluded.{c}" for c in _SUMMARY)
_COUNTERS = ", ".join(STAT_COUNTERS)
_ADD = ", ".join(f"{c} = u.{c} + excluded.{c}" for c in STAT_COUNTERS)

APPEND_ONE = f"""
CREATE OR REPLACE FUNCTION df_append_one(
    p_stream text, p_expected integer, p_event_id text, p_type text, p_schema_version integer,
    p_payload jsonb, p_actor_id text, p_actor_role text, p_actor_unit text,
    p_occurred_at timestamptz, p_digest bytea,
    p_summary need_summary, p_credits unit_monthly_stat_slots[], p_refolded boolean,
    OUT status text, OUT actual integer, OUT reason text
) LANGUAGE plpgsql AS $fn$
DECLARE
    h bytea;
BEGIN
    UPDATE stream_heads SET version = p_expected + 1, hash = sha256(hash || p_digest),
                            updated_at = now()
        WHERE stream_id = p_stream AND version = p_expected
        RETURNING hash INTO h;
    IF NOT FOUND THEN
        SELECT a.status, a.actual, a.reason INTO status, actual, reason
        FROM df_append(p_stream, p_expected, ARRAY[p_event_id], ARRAY[p_type],
                       ARRAY[p_schema_version], ARRAY[p_payload], ARRAY[p_actor_id],
                       ARRAY[p_actor_role], ARRAY[p_actor_unit], ARRAY[p_occurred_at],
                       ARRAY[p_digest], p_summary, p_credits, p_refolded) AS a;
        RETURN;
    END IF;
    INSERT INTO events ({_EVENT_COLUMNS})
    VALUES (p_stream, p_expected + 1, p_event_id, p_type, p_schema_version, p_payload,
            p_actor_id, p_actor_role, p_actor_unit, p_occurred_at, h);
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
    status := 'ok'; actual := p_expected + 1;
END
$fn$;
"""

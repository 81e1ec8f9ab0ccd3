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

Frozen: literal text as the revision shipped (rendered from the column and counter
lists of that day); never edit a shipped revision, add a new one.
"""

APPEND_ONE = """
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
    INSERT INTO events (stream_id, version, event_id, type, schema_version, payload, actor_id, actor_role, actor_unit, occurred_at, hash)
    VALUES (p_stream, p_expected + 1, p_event_id, p_type, p_schema_version, p_payload,
            p_actor_id, p_actor_role, p_actor_unit, p_occurred_at, h);
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
    status := 'ok'; actual := p_expected + 1;
END
$fn$;
"""

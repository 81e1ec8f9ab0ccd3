"""SQL of revision 0011: 催办 and 督办 counted (issue 19).

The need's row gains `reminders` (催办 so far), `reminded_at` (the latest 催办 its current
holder has not yet answered by completing or handing it on: the inbox flag), `supervisions`
(督办 orders so far), and the open order's `supervision_unit` and `supervision_due_at` (reply
deadline; NULL once replied). The monthly counters gain `reminded` (credited to the unit
holding the need), `supervised` (to the unit ordered) and `supervision_missed` (to the unit
ordered, when its reply deadline passed unanswered). The inbox view shows the three new
facts; the stats and rates views list the new counters; the append functions write the new
columns. Existing rows are moved forward from the events, by the rules of store/fold.py.

It also corrects `overdue` on existing rows to the one rule the need's state applies
(domain.deadlines.overdue_after): a breach recorded at the top of the ladder (a warning at
100 %) makes a need overdue, and a close ends it; the summary missed both before. And the
stage (with the unit's task) to the one the state holds: an information request never
changes the stage (rows said `collection`), and an escalation is handled at once by the
unit above (rows said `assignment`, task `accept`, after an acceptance timeout).

Frozen: literal text as the revision shipped; never edit a shipped revision, add a new one.
"""

COLUMNS = """
ALTER TABLE need_summary
    ADD COLUMN IF NOT EXISTS reminders integer NOT NULL DEFAULT 0,
    ADD COLUMN IF NOT EXISTS reminded_at timestamptz,
    ADD COLUMN IF NOT EXISTS supervisions integer NOT NULL DEFAULT 0,
    ADD COLUMN IF NOT EXISTS supervision_unit text,
    ADD COLUMN IF NOT EXISTS supervision_due_at timestamptz;
ALTER TABLE unit_monthly_stat_slots
    ADD COLUMN IF NOT EXISTS reminded integer NOT NULL DEFAULT 0,
    ADD COLUMN IF NOT EXISTS supervised integer NOT NULL DEFAULT 0,
    ADD COLUMN IF NOT EXISTS supervision_missed integer NOT NULL DEFAULT 0;
"""

VIEWS = """
CREATE OR REPLACE VIEW unit_inbox AS
    SELECT assigned_unit AS unit_id, stream_id, task, due_at, overdue, stage,
           category, tier, urgency, title, unit_kind, reminders, reminded_at,
           supervision_unit, supervision_due_at
    FROM need_summary
    WHERE task IS NOT NULL AND assigned_unit IS NOT NULL;
CREATE OR REPLACE VIEW unit_monthly_stats AS
    SELECT unit_id, month, sum(assigned)::integer AS assigned,
        sum(accepted)::integer AS accepted,
        sum(accepted_in_time)::integer AS accepted_in_time,
        sum(completed)::integer AS completed,
        sum(completed_in_time)::integer AS completed_in_time,
        sum(evaluations)::integer AS evaluations,
        sum(satisfied)::integer AS satisfied,
        sum(unsatisfied)::integer AS unsatisfied,
        sum(no_response)::integer AS no_response,
        sum(returns)::integer AS returns,
        sum(reopened)::integer AS reopened,
        sum(overdue)::integer AS overdue,
        sum(reminded)::integer AS reminded,
        sum(supervised)::integer AS supervised,
        sum(supervision_missed)::integer AS supervision_missed
    FROM unit_monthly_stat_slots GROUP BY unit_id, month;
DROP VIEW IF EXISTS unit_monthly_rates;
CREATE VIEW unit_monthly_rates AS
    SELECT s.*,
        round(accepted_in_time::numeric / NULLIF(accepted, 0), 4) AS response_rate,
        round(completed::numeric / NULLIF(completed + returns + overdue, 0), 4)
            AS resolution_rate,
        round(completed_in_time::numeric / NULLIF(completed, 0), 4) AS on_time_resolution_rate,
        round(satisfied::numeric / NULLIF(evaluations, 0), 4) AS satisfaction_rate,
        round(returns::numeric / NULLIF(completed + returns + overdue, 0), 4) AS return_rate,
        round(reopened::numeric / NULLIF(evaluations, 0), 4) AS reopen_rate,
        round(overdue::numeric / NULLIF(completed + returns + overdue, 0), 4) AS overdue_rate
    FROM unit_monthly_stats s;
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
    UPDATE need_summary SET stage = p_summary.stage, channel = p_summary.channel, external_id = p_summary.external_id, title = p_summary.title, category = p_summary.category, tier = p_summary.tier, urgency = p_summary.urgency, assigned_unit = p_summary.assigned_unit, unit_kind = p_summary.unit_kind, task = p_summary.task, due_at = p_summary.due_at, overdue = p_summary.overdue, escalations = p_summary.escalations, returns = p_summary.returns, reopenings = p_summary.reopenings, extensions = p_summary.extensions, linked_reports = p_summary.linked_reports, submitted_at = p_summary.submitted_at, accepted_at = p_summary.accepted_at, completed_at = p_summary.completed_at, closed_at = p_summary.closed_at, outcome = p_summary.outcome, satisfied = p_summary.satisfied, requester_id = p_summary.requester_id, requester_kind = p_summary.requester_kind, requester_name = p_summary.requester_name, requester_phone = p_summary.requester_phone, organisation = p_summary.organisation, street = p_summary.street, community = p_summary.community, grid = p_summary.grid, building = p_summary.building, address = p_summary.address, last_version = p_summary.last_version, updated_at = p_summary.updated_at, reminders = p_summary.reminders, reminded_at = p_summary.reminded_at, supervisions = p_summary.supervisions, supervision_unit = p_summary.supervision_unit, supervision_due_at = p_summary.supervision_due_at
        WHERE stream_id = p_stream AND (last_version = p_expected OR p_refolded);
    IF NOT FOUND THEN
        IF p_expected > 0 AND EXISTS (SELECT FROM need_summary WHERE stream_id = p_stream) THEN
            RAISE EXCEPTION 'need_summary of this stream is not at version %', p_expected
                USING ERRCODE = 'DF001';
        END IF;
        INSERT INTO need_summary SELECT (p_summary).*
            ON CONFLICT (stream_id) DO UPDATE SET stage = excluded.stage, channel = excluded.channel, external_id = excluded.external_id, title = excluded.title, category = excluded.category, tier = excluded.tier, urgency = excluded.urgency, assigned_unit = excluded.assigned_unit, unit_kind = excluded.unit_kind, task = excluded.task, due_at = excluded.due_at, overdue = excluded.overdue, escalations = excluded.escalations, returns = excluded.returns, reopenings = excluded.reopenings, extensions = excluded.extensions, linked_reports = excluded.linked_reports, submitted_at = excluded.submitted_at, accepted_at = excluded.accepted_at, completed_at = excluded.completed_at, closed_at = excluded.closed_at, outcome = excluded.outcome, satisfied = excluded.satisfied, requester_id = excluded.requester_id, requester_kind = excluded.requester_kind, requester_name = excluded.requester_name, requester_phone = excluded.requester_phone, organisation = excluded.organisation, street = excluded.street, community = excluded.community, grid = excluded.grid, building = excluded.building, address = excluded.address, last_version = excluded.last_version, updated_at = excluded.updated_at, reminders = excluded.reminders, reminded_at = excluded.reminded_at, supervisions = excluded.supervisions, supervision_unit = excluded.supervision_unit, supervision_due_at = excluded.supervision_due_at;
    END IF;
    IF cardinality(p_credits) > 0 THEN
        INSERT INTO unit_monthly_stat_slots AS u (unit_id, month, slot, assigned, accepted, accepted_in_time, completed, completed_in_time, evaluations, satisfied, unsatisfied, no_response, returns, reopened, overdue, reminded, supervised, supervision_missed)
        SELECT x.unit_id, x.month, pg_backend_pid() % 32, assigned, accepted, accepted_in_time, completed, completed_in_time, evaluations, satisfied, unsatisfied, no_response, returns, reopened, overdue, reminded, supervised, supervision_missed
        FROM unnest(p_credits) AS x
        ON CONFLICT (unit_id, month, slot) DO UPDATE SET assigned = u.assigned + excluded.assigned, accepted = u.accepted + excluded.accepted, accepted_in_time = u.accepted_in_time + excluded.accepted_in_time, completed = u.completed + excluded.completed, completed_in_time = u.completed_in_time + excluded.completed_in_time, evaluations = u.evaluations + excluded.evaluations, satisfied = u.satisfied + excluded.satisfied, unsatisfied = u.unsatisfied + excluded.unsatisfied, no_response = u.no_response + excluded.no_response, returns = u.returns + excluded.returns, reopened = u.reopened + excluded.reopened, overdue = u.overdue + excluded.overdue, reminded = u.reminded + excluded.reminded, supervised = u.supervised + excluded.supervised, supervision_missed = u.supervision_missed + excluded.supervision_missed;
    END IF;
    status := 'ok'; actual := p_expected + n;
END
$fn$;
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
    UPDATE need_summary SET stage = p_summary.stage, channel = p_summary.channel, external_id = p_summary.external_id, title = p_summary.title, category = p_summary.category, tier = p_summary.tier, urgency = p_summary.urgency, assigned_unit = p_summary.assigned_unit, unit_kind = p_summary.unit_kind, task = p_summary.task, due_at = p_summary.due_at, overdue = p_summary.overdue, escalations = p_summary.escalations, returns = p_summary.returns, reopenings = p_summary.reopenings, extensions = p_summary.extensions, linked_reports = p_summary.linked_reports, submitted_at = p_summary.submitted_at, accepted_at = p_summary.accepted_at, completed_at = p_summary.completed_at, closed_at = p_summary.closed_at, outcome = p_summary.outcome, satisfied = p_summary.satisfied, requester_id = p_summary.requester_id, requester_kind = p_summary.requester_kind, requester_name = p_summary.requester_name, requester_phone = p_summary.requester_phone, organisation = p_summary.organisation, street = p_summary.street, community = p_summary.community, grid = p_summary.grid, building = p_summary.building, address = p_summary.address, last_version = p_summary.last_version, updated_at = p_summary.updated_at, reminders = p_summary.reminders, reminded_at = p_summary.reminded_at, supervisions = p_summary.supervisions, supervision_unit = p_summary.supervision_unit, supervision_due_at = p_summary.supervision_due_at
        WHERE stream_id = p_stream AND (last_version = p_expected OR p_refolded);
    IF NOT FOUND THEN
        IF p_expected > 0 AND EXISTS (SELECT FROM need_summary WHERE stream_id = p_stream) THEN
            RAISE EXCEPTION 'need_summary of this stream is not at version %', p_expected
                USING ERRCODE = 'DF001';
        END IF;
        INSERT INTO need_summary SELECT (p_summary).*
            ON CONFLICT (stream_id) DO UPDATE SET stage = excluded.stage, channel = excluded.channel, external_id = excluded.external_id, title = excluded.title, category = excluded.category, tier = excluded.tier, urgency = excluded.urgency, assigned_unit = excluded.assigned_unit, unit_kind = excluded.unit_kind, task = excluded.task, due_at = excluded.due_at, overdue = excluded.overdue, escalations = excluded.escalations, returns = excluded.returns, reopenings = excluded.reopenings, extensions = excluded.extensions, linked_reports = excluded.linked_reports, submitted_at = excluded.submitted_at, accepted_at = excluded.accepted_at, completed_at = excluded.completed_at, closed_at = excluded.closed_at, outcome = excluded.outcome, satisfied = excluded.satisfied, requester_id = excluded.requester_id, requester_kind = excluded.requester_kind, requester_name = excluded.requester_name, requester_phone = excluded.requester_phone, organisation = excluded.organisation, street = excluded.street, community = excluded.community, grid = excluded.grid, building = excluded.building, address = excluded.address, last_version = excluded.last_version, updated_at = excluded.updated_at, reminders = excluded.reminders, reminded_at = excluded.reminded_at, supervisions = excluded.supervisions, supervision_unit = excluded.supervision_unit, supervision_due_at = excluded.supervision_due_at;
    END IF;
    IF cardinality(p_credits) > 0 THEN
        INSERT INTO unit_monthly_stat_slots AS u (unit_id, month, slot, assigned, accepted, accepted_in_time, completed, completed_in_time, evaluations, satisfied, unsatisfied, no_response, returns, reopened, overdue, reminded, supervised, supervision_missed)
        SELECT x.unit_id, x.month, pg_backend_pid() % 32, assigned, accepted, accepted_in_time, completed, completed_in_time, evaluations, satisfied, unsatisfied, no_response, returns, reopened, overdue, reminded, supervised, supervision_missed
        FROM unnest(p_credits) AS x
        ON CONFLICT (unit_id, month, slot) DO UPDATE SET assigned = u.assigned + excluded.assigned, accepted = u.accepted + excluded.accepted, accepted_in_time = u.accepted_in_time + excluded.accepted_in_time, completed = u.completed + excluded.completed, completed_in_time = u.completed_in_time + excluded.completed_in_time, evaluations = u.evaluations + excluded.evaluations, satisfied = u.satisfied + excluded.satisfied, unsatisfied = u.unsatisfied + excluded.unsatisfied, no_response = u.no_response + excluded.no_response, returns = u.returns + excluded.returns, reopened = u.reopened + excluded.reopened, overdue = u.overdue + excluded.overdue, reminded = u.reminded + excluded.reminded, supervised = u.supervised + excluded.supervised, supervision_missed = u.supervision_missed + excluded.supervision_missed;
    END IF;
    status := 'ok'; actual := p_expected + 1;
END
$fn$;
"""

BACKFILL = """
WITH marks AS (
    SELECT stream_id,
        count(*) FILTER (WHERE type = 'ReminderSent') AS reminders,
        count(*) FILTER (WHERE type = 'SupervisionOrdered') AS supervisions,
        max(version) FILTER (WHERE type IN ('DemandAssigned', 'DemandReturned',
            'HandlingEscalated', 'HandlingCompleted', 'DemandClosed', 'DemandMerged'))
            AS last_hand,
        max(version) FILTER (WHERE type = 'SupervisionOrdered') AS last_order,
        max(version) FILTER (WHERE type = 'SupervisionReplied') AS last_reply
    FROM events
    WHERE type IN ('ReminderSent', 'SupervisionOrdered', 'SupervisionReplied',
                   'DemandAssigned', 'DemandReturned', 'HandlingEscalated',
                   'HandlingCompleted', 'DemandClosed', 'DemandMerged')
    GROUP BY stream_id
)
UPDATE need_summary s SET
    reminders = m.reminders,
    reminded_at = (SELECT max(r.occurred_at) FROM events r
                   WHERE r.stream_id = m.stream_id AND r.type = 'ReminderSent'
                     AND r.version > coalesce(m.last_hand, 0)),
    supervisions = m.supervisions,
    supervision_unit = o.payload->>'unit_id',
    supervision_due_at = (o.payload->>'reply_due_at')::timestamptz
FROM marks m
LEFT JOIN events o ON o.stream_id = m.stream_id AND o.version = m.last_order
                  AND m.last_order > coalesce(m.last_reply, 0)
WHERE s.stream_id = m.stream_id AND (m.reminders > 0 OR m.supervisions > 0);

INSERT INTO unit_monthly_stat_slots AS u (unit_id, month, slot, reminded, supervised,
                                          supervision_missed)
SELECT c.unit_id, c.month, 0,
       count(*) FILTER (WHERE c.type = 'ReminderSent'),
       count(*) FILTER (WHERE c.type = 'SupervisionOrdered'),
       count(*) FILTER (WHERE c.type = 'SupervisionReplyMissed')
FROM (
    SELECT e.type,
        date_trunc('month', e.occurred_at AT TIME ZONE 'Asia/Shanghai')::date AS month,
        CASE e.type
        WHEN 'ReminderSent' THEN (
            SELECT CASE h.type WHEN 'DemandReturned' THEN NULL
                               WHEN 'HandlingEscalated' THEN h.payload->>'to_unit'
                               ELSE h.payload->>'unit_id' END
            FROM events h
            WHERE h.stream_id = e.stream_id AND h.version < e.version
              AND h.type IN ('DemandAssigned', 'DemandAccepted', 'DemandReturned',
                             'HandlingEscalated')
            ORDER BY h.version DESC LIMIT 1)
        WHEN 'SupervisionOrdered' THEN e.payload->>'unit_id'
        ELSE (
            SELECT o.payload->>'unit_id' FROM events o
            WHERE o.stream_id = e.stream_id AND o.version < e.version
              AND o.type = 'SupervisionOrdered'
            ORDER BY o.version DESC LIMIT 1)
        END AS unit_id
    FROM events e
    WHERE e.type IN ('ReminderSent', 'SupervisionOrdered', 'SupervisionReplyMissed')
) c
WHERE c.unit_id IS NOT NULL
GROUP BY c.unit_id, c.month
ON CONFLICT (unit_id, month, slot) DO UPDATE SET
    reminded = u.reminded + excluded.reminded,
    supervised = u.supervised + excluded.supervised,
    supervision_missed = u.supervision_missed + excluded.supervision_missed;

UPDATE need_summary s SET overdue = x.type NOT IN ('DemandAccepted', 'HandlingCompleted',
                                                  'DemandClosed')
FROM (
    SELECT DISTINCT ON (stream_id) stream_id, type
    FROM events
    WHERE type IN ('DemandAccepted', 'HandlingCompleted', 'DemandClosed')
       OR (type = 'HandlingEscalated'
           AND payload->>'cause' IN ('deadline_breached', 'acceptance_timeout'))
       OR (type = 'DeadlineWarningIssued' AND (payload->>'threshold_percent')::int >= 100)
    ORDER BY stream_id, version DESC
) x
WHERE s.stream_id = x.stream_id
  AND s.overdue IS DISTINCT FROM (x.type NOT IN ('DemandAccepted', 'HandlingCompleted',
                                                 'DemandClosed'));

UPDATE need_summary s SET stage = x.stage,
    task = CASE WHEN x.stage = 'assignment' AND s.assigned_unit IS NOT NULL THEN 'accept'
                WHEN x.stage = 'handling' THEN 'handle' END
FROM (
    SELECT DISTINCT ON (stream_id) stream_id,
        CASE type WHEN 'ClassificationRequested' THEN 'classification'
                  WHEN 'DemandClassified' THEN 'classification'
                  WHEN 'DemandAssigned' THEN 'assignment'
                  WHEN 'DemandReturned' THEN 'assignment'
                  WHEN 'DemandAccepted' THEN 'handling'
                  WHEN 'DemandReopened' THEN 'handling'
                  WHEN 'HandlingEscalated' THEN 'handling'
                  WHEN 'HandlingCompleted' THEN 'evaluation'
                  WHEN 'DemandClosed' THEN 'closed'
                  WHEN 'DemandMerged' THEN 'closed'
                  ELSE 'collection' END AS stage
    FROM events
    WHERE type IN ('DemandSubmitted', 'ClassificationRequested', 'DemandClassified',
                   'DemandAssigned', 'DemandReturned', 'DemandAccepted', 'DemandReopened',
                   'HandlingEscalated', 'HandlingCompleted', 'DemandClosed', 'DemandMerged')
    ORDER BY stream_id, version DESC
) x
WHERE s.stream_id = x.stream_id AND s.stage IS DISTINCT FROM x.stage;
"""


def rates_grant(role: str) -> str:
    """The rates view is re-created by this revision: the app role reads it again."""
    r = '"' + role.replace('"', '""') + '"'
    return f"GRANT SELECT ON unit_monthly_rates TO {r};\n"

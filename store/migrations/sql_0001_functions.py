"""PL/pgSQL of revision 0001: the one-round-trip append and the projection fold.

`append_events` locks the stream head, tells a retry from a conflict, chains the hashes,
inserts the batch and folds it into the projections — all in the caller's transaction.
`df_project` is the only place projection rules live; rebuild replays streams through it too.

Frozen: literal text as the revision shipped (rendered from the column and counter
lists of that day); never edit a shipped revision, add a new one.
"""

MASKING = """
CREATE OR REPLACE FUNCTION df_mask_text(v text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN v IS NULL OR v = '' THEN v
                ELSE left(v, 1) || repeat('*', char_length(v) - 1) END
$$;
CREATE OR REPLACE FUNCTION df_mask_phone(v text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN v IS NULL OR v = '' THEN v
                WHEN char_length(v) <= 5 THEN repeat('*', char_length(v))
                ELSE left(v, 3) || repeat('*', char_length(v) - 5) || right(v, 2) END
$$;
-- The content digest of one event: sha256 of jsonb's own canonical text (keys sorted, one
-- spelling per number), so the digest never depends on how a client serialised its JSON.
CREATE OR REPLACE FUNCTION df_event_digest(
    stream_id text, version integer, event_id text, type text, schema_version integer,
    payload jsonb, actor_id text, actor_role text, actor_unit text, occurred_at timestamptz
) RETURNS bytea
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT sha256(convert_to(jsonb_build_object(
        'stream_id', stream_id, 'version', version, 'event_id', event_id, 'type', type,
        'schema_version', schema_version, 'payload', payload,
        'actor', jsonb_build_object('id', actor_id, 'role', actor_role, 'unit', actor_unit),
        'occurred_at', to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
    )::text, 'UTF8'))
$$;
DO $$ BEGIN
    CREATE TYPE df_stat_delta AS (unit_id text, month date, counter text, n integer);
EXCEPTION WHEN duplicate_object THEN NULL;
END $$;
"""

PROJECT = """
CREATE OR REPLACE FUNCTION df_project(p_stream text, p_events jsonb) RETURNS void
LANGUAGE plpgsql AS $fn$
DECLARE
    s need_summary; e jsonb; p jsonb; t text; at timestamptz; m date; n integer;
    d df_stat_delta[] := '{}';
BEGIN
    SELECT * INTO s FROM need_summary WHERE stream_id = p_stream;
    IF NOT FOUND THEN
        s.stream_id := p_stream; s.stage := 'collection'; s.overdue := false;
        s.escalations := 0; s.returns := 0; s.reopenings := 0; s.extensions := 0;
        s.linked_reports := 0;
    END IF;
    FOR e IN SELECT value FROM jsonb_array_elements(p_events) LOOP
        t := e->>'type'; p := e->'payload'; at := (e->>'occurred_at')::timestamptz;
        -- months are Shanghai calendar months: the district reports by local month
        m := date_trunc('month', at AT TIME ZONE 'Asia/Shanghai')::date;
        
    CASE t
    WHEN 'DemandSubmitted' THEN
        s.stage := 'collection'; s.channel := p->>'channel'; s.external_id := p->>'external_id';
        s.title := p->>'title'; s.submitted_at := at;
        s.requester_id := p->'requester'->>'requester_id';
        s.requester_kind := p->'requester'->>'kind';
        s.requester_name := df_mask_text(p->'requester'->>'name');
        s.requester_phone := df_mask_phone(p->'requester'->>'phone');
        s.organisation := p->'requester'->>'organisation';
        s.street := p->'location'->>'street'; s.community := p->'location'->>'community';
        s.grid := p->'location'->>'grid'; s.building := p->'location'->>'building';
        s.address := df_mask_text(p->'location'->>'address');
    WHEN 'InformationRequested' THEN s.stage := 'collection';
    WHEN 'ReportLinked' THEN s.linked_reports := s.linked_reports + 1;
    WHEN 'DemandMerged' THEN
        s.stage := 'closed'; s.closed_at := at; s.outcome := 'merged'; s.task := NULL;
    WHEN 'ClassificationRequested' THEN s.stage := 'classification';
    WHEN 'DemandClassified' THEN
        s.stage := 'classification'; s.category := p->>'category'; s.tier := p->>'tier';
        s.urgency := p->>'urgency';
    WHEN 'DemandReclassified' THEN
        s.category := p->>'category'; s.tier := p->>'tier'; s.urgency := p->>'urgency';
    WHEN 'DemandAssigned' THEN
        s.stage := 'assignment'; s.assigned_unit := p->>'unit_id'; s.unit_kind := p->>'unit_kind';
        s.task := 'accept'; s.due_at := (p->>'accept_due_at')::timestamptz;
        d := d || ROW(s.assigned_unit, m, 'assigned', 1)::df_stat_delta;
    WHEN 'DemandReturned' THEN
        s.returns := s.returns + 1;
        d := d || ROW(p->>'unit_id', m, 'returns', 1)::df_stat_delta;
        s.stage := 'assignment'; s.assigned_unit := NULL; s.unit_kind := NULL;
        s.task := NULL; s.due_at := NULL;
    WHEN 'DemandAccepted' THEN
        d := d || ROW(p->>'unit_id', m, 'accepted', 1)::df_stat_delta;
        IF s.task IS DISTINCT FROM 'accept' OR s.due_at IS NULL OR at <= s.due_at THEN
            d := d || ROW(p->>'unit_id', m, 'accepted_in_time', 1)::df_stat_delta;
        END IF;
        s.stage := 'handling'; s.assigned_unit := p->>'unit_id'; s.task := 'handle';
        s.due_at := (p->>'due_at')::timestamptz; s.overdue := false; s.accepted_at := at;
    WHEN 'HandlingEscalated' THEN
        s.escalations := s.escalations + 1;
        IF p->>'cause' IN ('deadline_breached', 'acceptance_timeout') THEN
            s.overdue := true;
            d := d || ROW(p->>'from_unit', m, 'overdue', 1)::df_stat_delta;
        END IF;
        s.assigned_unit := p->>'to_unit'; s.unit_kind := p->>'to_kind';
        s.due_at := (p->>'due_at')::timestamptz;
        IF s.stage = 'evaluation' THEN s.stage := 'handling'; END IF;
        IF s.stage <> 'closed' THEN s.task := coalesce(s.task, 'handle'); END IF;
    WHEN 'ExtensionApproved' THEN
        s.extensions := s.extensions + 1; s.due_at := (p->>'due_at')::timestamptz;
    WHEN 'HandlingCompleted' THEN
        s.stage := 'evaluation'; s.task := NULL; s.overdue := false; s.completed_at := at;
        d := d || ROW(p->>'unit_id', m, 'completed', 1)::df_stat_delta;
        IF (p->>'in_time')::boolean THEN
            d := d || ROW(p->>'unit_id', m, 'completed_in_time', 1)::df_stat_delta;
        END IF;
    WHEN 'EvaluationSubmitted' THEN
        d := d || ROW(s.assigned_unit, m, 'evaluations', 1)::df_stat_delta;
        d := d || ROW(s.assigned_unit, m,
            CASE WHEN p->>'rating' = 'unsatisfied' THEN 'unsatisfied' ELSE 'satisfied' END,
            1)::df_stat_delta;
    WHEN 'EvaluationWindowClosed' THEN
        n := jsonb_array_length(p->'missing_reviewers');
        d := d || ROW(s.assigned_unit, m, 'evaluations', n)::df_stat_delta
               || ROW(s.assigned_unit, m, 'no_response', n)::df_stat_delta;
    WHEN 'DemandReopened' THEN
        s.stage := 'handling'; s.reopenings := s.reopenings + 1; s.task := 'handle';
        s.due_at := NULL;
        d := d || ROW(s.assigned_unit, m, 'reopened', 1)::df_stat_delta;
    WHEN 'DemandClosed' THEN
        s.stage := 'closed'; s.closed_at := at; s.outcome := p->>'outcome';
        s.satisfied := (p->>'satisfied')::boolean; s.task := NULL;
    ELSE NULL;
    END CASE;

        s.last_version := (e->>'version')::integer;
    END LOOP;
    s.updated_at := now();
    INSERT INTO need_summary SELECT (s).*
        ON CONFLICT (stream_id) DO UPDATE SET stage = excluded.stage, channel = excluded.channel, external_id = excluded.external_id, title = excluded.title, category = excluded.category, tier = excluded.tier, urgency = excluded.urgency, assigned_unit = excluded.assigned_unit, unit_kind = excluded.unit_kind, task = excluded.task, due_at = excluded.due_at, overdue = excluded.overdue, escalations = excluded.escalations, returns = excluded.returns, reopenings = excluded.reopenings, extensions = excluded.extensions, linked_reports = excluded.linked_reports, submitted_at = excluded.submitted_at, accepted_at = excluded.accepted_at, completed_at = excluded.completed_at, closed_at = excluded.closed_at, outcome = excluded.outcome, satisfied = excluded.satisfied, requester_id = excluded.requester_id, requester_kind = excluded.requester_kind, requester_name = excluded.requester_name, requester_phone = excluded.requester_phone, organisation = excluded.organisation, street = excluded.street, community = excluded.community, grid = excluded.grid, building = excluded.building, address = excluded.address, last_version = excluded.last_version, updated_at = excluded.updated_at;
    -- unit ids may be unknown (evaluation before any assignment): nothing to credit then
    IF cardinality(d) > 0 THEN
        INSERT INTO unit_monthly_stat_slots AS u (unit_id, month, slot, assigned, accepted, accepted_in_time, completed, completed_in_time, evaluations, satisfied, unsatisfied, no_response, returns, reopened, overdue)
        SELECT x.unit_id, x.month, pg_backend_pid() % 32, coalesce(sum(x.n) FILTER (WHERE x.counter = 'assigned'), 0), coalesce(sum(x.n) FILTER (WHERE x.counter = 'accepted'), 0), coalesce(sum(x.n) FILTER (WHERE x.counter = 'accepted_in_time'), 0), coalesce(sum(x.n) FILTER (WHERE x.counter = 'completed'), 0), coalesce(sum(x.n) FILTER (WHERE x.counter = 'completed_in_time'), 0), coalesce(sum(x.n) FILTER (WHERE x.counter = 'evaluations'), 0), coalesce(sum(x.n) FILTER (WHERE x.counter = 'satisfied'), 0), coalesce(sum(x.n) FILTER (WHERE x.counter = 'unsatisfied'), 0), coalesce(sum(x.n) FILTER (WHERE x.counter = 'no_response'), 0), coalesce(sum(x.n) FILTER (WHERE x.counter = 'returns'), 0), coalesce(sum(x.n) FILTER (WHERE x.counter = 'reopened'), 0), coalesce(sum(x.n) FILTER (WHERE x.counter = 'overdue'), 0)
        FROM unnest(d) AS x WHERE x.unit_id IS NOT NULL AND x.n <> 0
        GROUP BY x.unit_id, x.month
        ON CONFLICT (unit_id, month, slot) DO UPDATE SET assigned = u.assigned + excluded.assigned, accepted = u.accepted + excluded.accepted, accepted_in_time = u.accepted_in_time + excluded.accepted_in_time, completed = u.completed + excluded.completed, completed_in_time = u.completed_in_time + excluded.completed_in_time, evaluations = u.evaluations + excluded.evaluations, satisfied = u.satisfied + excluded.satisfied, unsatisfied = u.unsatisfied + excluded.unsatisfied, no_response = u.no_response + excluded.no_response, returns = u.returns + excluded.returns, reopened = u.reopened + excluded.reopened, overdue = u.overdue + excluded.overdue;
    END IF;
END
$fn$;
"""

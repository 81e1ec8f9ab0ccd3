"""PL/pgSQL of revision 0002: the same append and projection rules as 0001, cheaper.

Results are identical — same rows, hashes (`df_event_digest` is untouched) and projection
contents. What changed:
- `append_events` and `df_project` read batch elements by index (`p_events->i`) instead of
  looping over a set-returning function, and a one-event batch is inserted with VALUES;
- `df_project` still folds into one `need_summary` record, but an existing row is written with
  a plain UPDATE — of only the columns the event's type can change when the batch is one event
  (derived from the fold text below), of every column otherwise — instead of a wide upsert;
- monthly counters are summed in variables per run of (unit, month): the common single run is
  written straight from them with VALUES; only a batch crediting several units/months collects
  its runs in an array and sums them in one grouped upsert (0001 grouped every delta, with a
  FILTER per counter, for every append).

Frozen: literal text as the revision shipped (rendered from the column and counter
lists of that day); never edit a shipped revision, add a new one.
"""

APPEND = """
CREATE OR REPLACE FUNCTION append_events(p_stream text, p_expected integer, p_events jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $fn$
DECLARE
    head_version integer; h bytea; hashes bytea[] := '{}'; e jsonb;
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
    IF n = 1 THEN
        e := p_events->0;
        h := sha256(h || df_event_digest(p_stream, p_expected + 1, e->>'event_id', e->>'type',
            (e->>'schema_version')::integer, e->'payload', e->>'actor_id', e->>'actor_role',
            e->>'actor_unit', (e->>'occurred_at')::timestamptz));
        INSERT INTO events (stream_id, version, event_id, type, schema_version, payload,
                            actor_id, actor_role, actor_unit, occurred_at, hash)
        VALUES (p_stream, p_expected + 1, e->>'event_id', e->>'type',
            (e->>'schema_version')::integer, e->'payload', e->>'actor_id', e->>'actor_role',
            e->>'actor_unit', (e->>'occurred_at')::timestamptz, h);
    ELSE
        FOR i IN 0 .. n - 1 LOOP
            e := p_events->i;
            h := sha256(h || df_event_digest(p_stream, p_expected + i + 1, e->>'event_id', e->>'type',
            (e->>'schema_version')::integer, e->'payload', e->>'actor_id', e->>'actor_role',
            e->>'actor_unit', (e->>'occurred_at')::timestamptz));
            hashes := hashes || h;
        END LOOP;
        INSERT INTO events (stream_id, version, event_id, type, schema_version, payload,
                            actor_id, actor_role, actor_unit, occurred_at, hash)
        SELECT p_stream, p_expected + x.i, x.e->>'event_id', x.e->>'type',
               (x.e->>'schema_version')::integer, x.e->'payload', x.e->>'actor_id',
               x.e->>'actor_role', x.e->>'actor_unit', (x.e->>'occurred_at')::timestamptz,
               hashes[x.i]
        FROM jsonb_array_elements(p_events) WITH ORDINALITY AS x(e, i);
    END IF;
    UPDATE stream_heads SET version = p_expected + n, hash = h, updated_at = now()
        WHERE stream_id = p_stream;
    PERFORM df_project(p_stream, p_events);
    RETURN jsonb_build_object('status', 'ok', 'version', p_expected + n);
END
$fn$;
"""

PROJECT = """
CREATE OR REPLACE FUNCTION df_project(p_stream text, p_events jsonb) RETURNS void
LANGUAGE plpgsql AS $fn$
DECLARE
    s need_summary; existed boolean; e jsonb; p jsonb; t text; at timestamptz; m date;
    n integer; events integer := 0;
    cu text; k_unit text; k_month date; runs unit_monthly_stat_slots[] := '{}';
    c_assigned integer := 0; c_accepted integer := 0; c_accepted_in_time integer := 0; c_completed integer := 0; c_completed_in_time integer := 0; c_evaluations integer := 0; c_satisfied integer := 0; c_unsatisfied integer := 0; c_no_response integer := 0; c_returns integer := 0; c_reopened integer := 0; c_overdue integer := 0;
BEGIN
    SELECT * INTO s FROM need_summary WHERE stream_id = p_stream;
    existed := FOUND;
    IF NOT existed THEN
        s.stream_id := p_stream; s.stage := 'collection'; s.overdue := false;
        s.escalations := 0; s.returns := 0; s.reopenings := 0; s.extensions := 0;
        s.linked_reports := 0;
    END IF;
    FOR i IN 0 .. jsonb_array_length(p_events) - 1 LOOP
        e := p_events->i; events := events + 1;
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
    WHEN 'InformationRequested' THEN
        s.stage := 'collection';
    WHEN 'ReportLinked' THEN
        s.linked_reports := s.linked_reports + 1;
    WHEN 'DemandMerged' THEN
        s.stage := 'closed'; s.closed_at := at; s.outcome := 'merged'; s.task := NULL;
    WHEN 'ClassificationRequested' THEN
        s.stage := 'classification';
    WHEN 'DemandClassified' THEN
        s.stage := 'classification'; s.category := p->>'category'; s.tier := p->>'tier';
        s.urgency := p->>'urgency';
    WHEN 'DemandReclassified' THEN
        s.category := p->>'category'; s.tier := p->>'tier'; s.urgency := p->>'urgency';
    WHEN 'DemandAssigned' THEN
        s.stage := 'assignment'; s.assigned_unit := p->>'unit_id'; s.unit_kind := p->>'unit_kind';
        s.task := 'accept'; s.due_at := (p->>'accept_due_at')::timestamptz;
        cu := s.assigned_unit;
        IF cu IS DISTINCT FROM k_unit OR m IS DISTINCT FROM k_month THEN
            IF k_unit IS NOT NULL AND (c_assigned <> 0 OR c_accepted <> 0 OR c_accepted_in_time <> 0 OR c_completed <> 0 OR c_completed_in_time <> 0 OR c_evaluations <> 0 OR c_satisfied <> 0 OR c_unsatisfied <> 0 OR c_no_response <> 0 OR c_returns <> 0 OR c_reopened <> 0 OR c_overdue <> 0) THEN
                runs := runs || ROW(k_unit, k_month, 0, c_assigned, c_accepted, c_accepted_in_time, c_completed, c_completed_in_time, c_evaluations, c_satisfied, c_unsatisfied, c_no_response, c_returns, c_reopened, c_overdue)::unit_monthly_stat_slots;
            END IF;
            c_assigned := 0; c_accepted := 0; c_accepted_in_time := 0; c_completed := 0; c_completed_in_time := 0; c_evaluations := 0; c_satisfied := 0; c_unsatisfied := 0; c_no_response := 0; c_returns := 0; c_reopened := 0; c_overdue := 0;
            k_unit := cu; k_month := m;
        END IF;
        c_assigned := c_assigned + 1;
    WHEN 'DemandReturned' THEN
        s.returns := s.returns + 1;
        cu := p->>'unit_id';
        IF cu IS DISTINCT FROM k_unit OR m IS DISTINCT FROM k_month THEN
            IF k_unit IS NOT NULL AND (c_assigned <> 0 OR c_accepted <> 0 OR c_accepted_in_time <> 0 OR c_completed <> 0 OR c_completed_in_time <> 0 OR c_evaluations <> 0 OR c_satisfied <> 0 OR c_unsatisfied <> 0 OR c_no_response <> 0 OR c_returns <> 0 OR c_reopened <> 0 OR c_overdue <> 0) THEN
                runs := runs || ROW(k_unit, k_month, 0, c_assigned, c_accepted, c_accepted_in_time, c_completed, c_completed_in_time, c_evaluations, c_satisfied, c_unsatisfied, c_no_response, c_returns, c_reopened, c_overdue)::unit_monthly_stat_slots;
            END IF;
            c_assigned := 0; c_accepted := 0; c_accepted_in_time := 0; c_completed := 0; c_completed_in_time := 0; c_evaluations := 0; c_satisfied := 0; c_unsatisfied := 0; c_no_response := 0; c_returns := 0; c_reopened := 0; c_overdue := 0;
            k_unit := cu; k_month := m;
        END IF;
        c_returns := c_returns + 1;
        s.stage := 'assignment'; s.assigned_unit := NULL; s.unit_kind := NULL;
        s.task := NULL; s.due_at := NULL;
    WHEN 'DemandAccepted' THEN
        cu := p->>'unit_id';
        IF cu IS DISTINCT FROM k_unit OR m IS DISTINCT FROM k_month THEN
            IF k_unit IS NOT NULL AND (c_assigned <> 0 OR c_accepted <> 0 OR c_accepted_in_time <> 0 OR c_completed <> 0 OR c_completed_in_time <> 0 OR c_evaluations <> 0 OR c_satisfied <> 0 OR c_unsatisfied <> 0 OR c_no_response <> 0 OR c_returns <> 0 OR c_reopened <> 0 OR c_overdue <> 0) THEN
                runs := runs || ROW(k_unit, k_month, 0, c_assigned, c_accepted, c_accepted_in_time, c_completed, c_completed_in_time, c_evaluations, c_satisfied, c_unsatisfied, c_no_response, c_returns, c_reopened, c_overdue)::unit_monthly_stat_slots;
            END IF;
            c_assigned := 0; c_accepted := 0; c_accepted_in_time := 0; c_completed := 0; c_completed_in_time := 0; c_evaluations := 0; c_satisfied := 0; c_unsatisfied := 0; c_no_response := 0; c_returns := 0; c_reopened := 0; c_overdue := 0;
            k_unit := cu; k_month := m;
        END IF;
        c_accepted := c_accepted + 1;
        IF s.task IS DISTINCT FROM 'accept' OR s.due_at IS NULL OR at <= s.due_at THEN
            c_accepted_in_time := c_accepted_in_time + 1;
        END IF;
        s.stage := 'handling'; s.assigned_unit := p->>'unit_id'; s.task := 'handle';
        s.due_at := (p->>'due_at')::timestamptz; s.overdue := false; s.accepted_at := at;
    WHEN 'HandlingEscalated' THEN
        s.escalations := s.escalations + 1;
        IF p->>'cause' IN ('deadline_breached', 'acceptance_timeout') THEN
            s.overdue := true;
            cu := p->>'from_unit';
        IF cu IS DISTINCT FROM k_unit OR m IS DISTINCT FROM k_month THEN
            IF k_unit IS NOT NULL AND (c_assigned <> 0 OR c_accepted <> 0 OR c_accepted_in_time <> 0 OR c_completed <> 0 OR c_completed_in_time <> 0 OR c_evaluations <> 0 OR c_satisfied <> 0 OR c_unsatisfied <> 0 OR c_no_response <> 0 OR c_returns <> 0 OR c_reopened <> 0 OR c_overdue <> 0) THEN
                runs := runs || ROW(k_unit, k_month, 0, c_assigned, c_accepted, c_accepted_in_time, c_completed, c_completed_in_time, c_evaluations, c_satisfied, c_unsatisfied, c_no_response, c_returns, c_reopened, c_overdue)::unit_monthly_stat_slots;
            END IF;
            c_assigned := 0; c_accepted := 0; c_accepted_in_time := 0; c_completed := 0; c_completed_in_time := 0; c_evaluations := 0; c_satisfied := 0; c_unsatisfied := 0; c_no_response := 0; c_returns := 0; c_reopened := 0; c_overdue := 0;
            k_unit := cu; k_month := m;
        END IF;
            c_overdue := c_overdue + 1;
        END IF;
        s.assigned_unit := p->>'to_unit'; s.unit_kind := p->>'to_kind';
        s.due_at := (p->>'due_at')::timestamptz;
        IF s.stage = 'evaluation' THEN s.stage := 'handling'; END IF;
        IF s.stage <> 'closed' THEN s.task := coalesce(s.task, 'handle'); END IF;
    WHEN 'ExtensionApproved' THEN
        s.extensions := s.extensions + 1; s.due_at := (p->>'due_at')::timestamptz;
    WHEN 'HandlingCompleted' THEN
        s.stage := 'evaluation'; s.task := NULL; s.overdue := false; s.completed_at := at;
        cu := p->>'unit_id';
        IF cu IS DISTINCT FROM k_unit OR m IS DISTINCT FROM k_month THEN
            IF k_unit IS NOT NULL AND (c_assigned <> 0 OR c_accepted <> 0 OR c_accepted_in_time <> 0 OR c_completed <> 0 OR c_completed_in_time <> 0 OR c_evaluations <> 0 OR c_satisfied <> 0 OR c_unsatisfied <> 0 OR c_no_response <> 0 OR c_returns <> 0 OR c_reopened <> 0 OR c_overdue <> 0) THEN
                runs := runs || ROW(k_unit, k_month, 0, c_assigned, c_accepted, c_accepted_in_time, c_completed, c_completed_in_time, c_evaluations, c_satisfied, c_unsatisfied, c_no_response, c_returns, c_reopened, c_overdue)::unit_monthly_stat_slots;
            END IF;
            c_assigned := 0; c_accepted := 0; c_accepted_in_time := 0; c_completed := 0; c_completed_in_time := 0; c_evaluations := 0; c_satisfied := 0; c_unsatisfied := 0; c_no_response := 0; c_returns := 0; c_reopened := 0; c_overdue := 0;
            k_unit := cu; k_month := m;
        END IF;
        c_completed := c_completed + 1;
        IF (p->>'in_time')::boolean THEN
            c_completed_in_time := c_completed_in_time + 1;
        END IF;
    WHEN 'EvaluationSubmitted' THEN
        cu := s.assigned_unit;
        IF cu IS DISTINCT FROM k_unit OR m IS DISTINCT FROM k_month THEN
            IF k_unit IS NOT NULL AND (c_assigned <> 0 OR c_accepted <> 0 OR c_accepted_in_time <> 0 OR c_completed <> 0 OR c_completed_in_time <> 0 OR c_evaluations <> 0 OR c_satisfied <> 0 OR c_unsatisfied <> 0 OR c_no_response <> 0 OR c_returns <> 0 OR c_reopened <> 0 OR c_overdue <> 0) THEN
                runs := runs || ROW(k_unit, k_month, 0, c_assigned, c_accepted, c_accepted_in_time, c_completed, c_completed_in_time, c_evaluations, c_satisfied, c_unsatisfied, c_no_response, c_returns, c_reopened, c_overdue)::unit_monthly_stat_slots;
            END IF;
            c_assigned := 0; c_accepted := 0; c_accepted_in_time := 0; c_completed := 0; c_completed_in_time := 0; c_evaluations := 0; c_satisfied := 0; c_unsatisfied := 0; c_no_response := 0; c_returns := 0; c_reopened := 0; c_overdue := 0;
            k_unit := cu; k_month := m;
        END IF;
        c_evaluations := c_evaluations + 1;
        IF p->>'rating' = 'unsatisfied' THEN
            c_unsatisfied := c_unsatisfied + 1;
        ELSE
            c_satisfied := c_satisfied + 1;
        END IF;
    WHEN 'EvaluationWindowClosed' THEN
        n := jsonb_array_length(p->'missing_reviewers');
        cu := s.assigned_unit;
        IF cu IS DISTINCT FROM k_unit OR m IS DISTINCT FROM k_month THEN
            IF k_unit IS NOT NULL AND (c_assigned <> 0 OR c_accepted <> 0 OR c_accepted_in_time <> 0 OR c_completed <> 0 OR c_completed_in_time <> 0 OR c_evaluations <> 0 OR c_satisfied <> 0 OR c_unsatisfied <> 0 OR c_no_response <> 0 OR c_returns <> 0 OR c_reopened <> 0 OR c_overdue <> 0) THEN
                runs := runs || ROW(k_unit, k_month, 0, c_assigned, c_accepted, c_accepted_in_time, c_completed, c_completed_in_time, c_evaluations, c_satisfied, c_unsatisfied, c_no_response, c_returns, c_reopened, c_overdue)::unit_monthly_stat_slots;
            END IF;
            c_assigned := 0; c_accepted := 0; c_accepted_in_time := 0; c_completed := 0; c_completed_in_time := 0; c_evaluations := 0; c_satisfied := 0; c_unsatisfied := 0; c_no_response := 0; c_returns := 0; c_reopened := 0; c_overdue := 0;
            k_unit := cu; k_month := m;
        END IF;
        c_evaluations := c_evaluations + n; c_no_response := c_no_response + n;
    WHEN 'DemandReopened' THEN
        s.stage := 'handling'; s.reopenings := s.reopenings + 1; s.task := 'handle';
        s.due_at := NULL;
        cu := s.assigned_unit;
        IF cu IS DISTINCT FROM k_unit OR m IS DISTINCT FROM k_month THEN
            IF k_unit IS NOT NULL AND (c_assigned <> 0 OR c_accepted <> 0 OR c_accepted_in_time <> 0 OR c_completed <> 0 OR c_completed_in_time <> 0 OR c_evaluations <> 0 OR c_satisfied <> 0 OR c_unsatisfied <> 0 OR c_no_response <> 0 OR c_returns <> 0 OR c_reopened <> 0 OR c_overdue <> 0) THEN
                runs := runs || ROW(k_unit, k_month, 0, c_assigned, c_accepted, c_accepted_in_time, c_completed, c_completed_in_time, c_evaluations, c_satisfied, c_unsatisfied, c_no_response, c_returns, c_reopened, c_overdue)::unit_monthly_stat_slots;
            END IF;
            c_assigned := 0; c_accepted := 0; c_accepted_in_time := 0; c_completed := 0; c_completed_in_time := 0; c_evaluations := 0; c_satisfied := 0; c_unsatisfied := 0; c_no_response := 0; c_returns := 0; c_reopened := 0; c_overdue := 0;
            k_unit := cu; k_month := m;
        END IF;
        c_reopened := c_reopened + 1;
    WHEN 'DemandClosed' THEN
        s.stage := 'closed'; s.closed_at := at; s.outcome := p->>'outcome';
        s.satisfied := (p->>'satisfied')::boolean; s.task := NULL;
    ELSE NULL;
    END CASE;
        s.last_version := (e->>'version')::integer;
    END LOOP;
    s.updated_at := now();
    IF NOT existed THEN
        INSERT INTO need_summary SELECT (s).*
            ON CONFLICT (stream_id) DO UPDATE SET stage = excluded.stage, channel = excluded.channel, external_id = excluded.external_id, title = excluded.title, category = excluded.category, tier = excluded.tier, urgency = excluded.urgency, assigned_unit = excluded.assigned_unit, unit_kind = excluded.unit_kind, task = excluded.task, due_at = excluded.due_at, overdue = excluded.overdue, escalations = excluded.escalations, returns = excluded.returns, reopenings = excluded.reopenings, extensions = excluded.extensions, linked_reports = excluded.linked_reports, submitted_at = excluded.submitted_at, accepted_at = excluded.accepted_at, completed_at = excluded.completed_at, closed_at = excluded.closed_at, outcome = excluded.outcome, satisfied = excluded.satisfied, requester_id = excluded.requester_id, requester_kind = excluded.requester_kind, requester_name = excluded.requester_name, requester_phone = excluded.requester_phone, organisation = excluded.organisation, street = excluded.street, community = excluded.community, grid = excluded.grid, building = excluded.building, address = excluded.address, last_version = excluded.last_version, updated_at = excluded.updated_at;
    ELSIF events = 1 THEN
        CASE t
        WHEN 'DemandSubmitted' THEN UPDATE need_summary SET stage = s.stage, channel = s.channel, external_id = s.external_id, title = s.title, submitted_at = s.submitted_at, requester_id = s.requester_id, requester_kind = s.requester_kind, requester_name = s.requester_name, requester_phone = s.requester_phone, organisation = s.organisation, street = s.street, community = s.community, grid = s.grid, building = s.building, address = s.address, last_version = s.last_version, updated_at = s.updated_at WHERE stream_id = p_stream;
        WHEN 'InformationRequested' THEN UPDATE need_summary SET stage = s.stage, last_version = s.last_version, updated_at = s.updated_at WHERE stream_id = p_stream;
        WHEN 'ReportLinked' THEN UPDATE need_summary SET linked_reports = s.linked_reports, last_version = s.last_version, updated_at = s.updated_at WHERE stream_id = p_stream;
        WHEN 'DemandMerged' THEN UPDATE need_summary SET stage = s.stage, task = s.task, closed_at = s.closed_at, outcome = s.outcome, last_version = s.last_version, updated_at = s.updated_at WHERE stream_id = p_stream;
        WHEN 'ClassificationRequested' THEN UPDATE need_summary SET stage = s.stage, last_version = s.last_version, updated_at = s.updated_at WHERE stream_id = p_stream;
        WHEN 'DemandClassified' THEN UPDATE need_summary SET stage = s.stage, category = s.category, tier = s.tier, urgency = s.urgency, last_version = s.last_version, updated_at = s.updated_at WHERE stream_id = p_stream;
        WHEN 'DemandReclassified' THEN UPDATE need_summary SET category = s.category, tier = s.tier, urgency = s.urgency, last_version = s.last_version, updated_at = s.updated_at WHERE stream_id = p_stream;
        WHEN 'DemandAssigned' THEN UPDATE need_summary SET stage = s.stage, assigned_unit = s.assigned_unit, unit_kind = s.unit_kind, task = s.task, due_at = s.due_at, last_version = s.last_version, updated_at = s.updated_at WHERE stream_id = p_stream;
        WHEN 'DemandReturned' THEN UPDATE need_summary SET stage = s.stage, assigned_unit = s.assigned_unit, unit_kind = s.unit_kind, task = s.task, due_at = s.due_at, returns = s.returns, last_version = s.last_version, updated_at = s.updated_at WHERE stream_id = p_stream;
        WHEN 'DemandAccepted' THEN UPDATE need_summary SET stage = s.stage, assigned_unit = s.assigned_unit, task = s.task, due_at = s.due_at, overdue = s.overdue, accepted_at = s.accepted_at, last_version = s.last_version, updated_at = s.updated_at WHERE stream_id = p_stream;
        WHEN 'HandlingEscalated' THEN UPDATE need_summary SET stage = s.stage, assigned_unit = s.assigned_unit, unit_kind = s.unit_kind, task = s.task, due_at = s.due_at, overdue = s.overdue, escalations = s.escalations, last_version = s.last_version, updated_at = s.updated_at WHERE stream_id = p_stream;
        WHEN 'ExtensionApproved' THEN UPDATE need_summary SET due_at = s.due_at, extensions = s.extensions, last_version = s.last_version, updated_at = s.updated_at WHERE stream_id = p_stream;
        WHEN 'HandlingCompleted' THEN UPDATE need_summary SET stage = s.stage, task = s.task, overdue = s.overdue, completed_at = s.completed_at, last_version = s.last_version, updated_at = s.updated_at WHERE stream_id = p_stream;
        WHEN 'EvaluationSubmitted' THEN UPDATE need_summary SET last_version = s.last_version, updated_at = s.updated_at WHERE stream_id = p_stream;
        WHEN 'EvaluationWindowClosed' THEN UPDATE need_summary SET last_version = s.last_version, updated_at = s.updated_at WHERE stream_id = p_stream;
        WHEN 'DemandReopened' THEN UPDATE need_summary SET stage = s.stage, task = s.task, due_at = s.due_at, reopenings = s.reopenings, last_version = s.last_version, updated_at = s.updated_at WHERE stream_id = p_stream;
        WHEN 'DemandClosed' THEN UPDATE need_summary SET stage = s.stage, task = s.task, closed_at = s.closed_at, outcome = s.outcome, satisfied = s.satisfied, last_version = s.last_version, updated_at = s.updated_at WHERE stream_id = p_stream;
        ELSE UPDATE need_summary SET last_version = s.last_version, updated_at = s.updated_at WHERE stream_id = p_stream;
        END CASE;
    ELSE
        UPDATE need_summary SET stage = s.stage, channel = s.channel, external_id = s.external_id, title = s.title, category = s.category, tier = s.tier, urgency = s.urgency, assigned_unit = s.assigned_unit, unit_kind = s.unit_kind, task = s.task, due_at = s.due_at, overdue = s.overdue, escalations = s.escalations, returns = s.returns, reopenings = s.reopenings, extensions = s.extensions, linked_reports = s.linked_reports, submitted_at = s.submitted_at, accepted_at = s.accepted_at, completed_at = s.completed_at, closed_at = s.closed_at, outcome = s.outcome, satisfied = s.satisfied, requester_id = s.requester_id, requester_kind = s.requester_kind, requester_name = s.requester_name, requester_phone = s.requester_phone, organisation = s.organisation, street = s.street, community = s.community, grid = s.grid, building = s.building, address = s.address, last_version = s.last_version, updated_at = s.updated_at WHERE stream_id = p_stream;
    END IF;
    IF cardinality(runs) = 0 THEN
        IF k_unit IS NOT NULL AND (c_assigned <> 0 OR c_accepted <> 0 OR c_accepted_in_time <> 0 OR c_completed <> 0 OR c_completed_in_time <> 0 OR c_evaluations <> 0 OR c_satisfied <> 0 OR c_unsatisfied <> 0 OR c_no_response <> 0 OR c_returns <> 0 OR c_reopened <> 0 OR c_overdue <> 0) THEN
            INSERT INTO unit_monthly_stat_slots AS u (unit_id, month, slot, assigned, accepted, accepted_in_time, completed, completed_in_time, evaluations, satisfied, unsatisfied, no_response, returns, reopened, overdue)
            VALUES (k_unit, k_month, pg_backend_pid() % 32,
                    c_assigned, c_accepted, c_accepted_in_time, c_completed, c_completed_in_time, c_evaluations, c_satisfied, c_unsatisfied, c_no_response, c_returns, c_reopened, c_overdue)
            ON CONFLICT (unit_id, month, slot) DO UPDATE SET assigned = u.assigned + excluded.assigned, accepted = u.accepted + excluded.accepted, accepted_in_time = u.accepted_in_time + excluded.accepted_in_time, completed = u.completed + excluded.completed, completed_in_time = u.completed_in_time + excluded.completed_in_time, evaluations = u.evaluations + excluded.evaluations, satisfied = u.satisfied + excluded.satisfied, unsatisfied = u.unsatisfied + excluded.unsatisfied, no_response = u.no_response + excluded.no_response, returns = u.returns + excluded.returns, reopened = u.reopened + excluded.reopened, overdue = u.overdue + excluded.overdue;
        END IF;
    ELSE
        IF k_unit IS NOT NULL AND (c_assigned <> 0 OR c_accepted <> 0 OR c_accepted_in_time <> 0 OR c_completed <> 0 OR c_completed_in_time <> 0 OR c_evaluations <> 0 OR c_satisfied <> 0 OR c_unsatisfied <> 0 OR c_no_response <> 0 OR c_returns <> 0 OR c_reopened <> 0 OR c_overdue <> 0) THEN
                runs := runs || ROW(k_unit, k_month, 0, c_assigned, c_accepted, c_accepted_in_time, c_completed, c_completed_in_time, c_evaluations, c_satisfied, c_unsatisfied, c_no_response, c_returns, c_reopened, c_overdue)::unit_monthly_stat_slots;
            END IF;
            c_assigned := 0; c_accepted := 0; c_accepted_in_time := 0; c_completed := 0; c_completed_in_time := 0; c_evaluations := 0; c_satisfied := 0; c_unsatisfied := 0; c_no_response := 0; c_returns := 0; c_reopened := 0; c_overdue := 0;
        INSERT INTO unit_monthly_stat_slots AS u (unit_id, month, slot, assigned, accepted, accepted_in_time, completed, completed_in_time, evaluations, satisfied, unsatisfied, no_response, returns, reopened, overdue)
        SELECT x.unit_id, x.month, pg_backend_pid() % 32,
               sum(x.assigned), sum(x.accepted), sum(x.accepted_in_time), sum(x.completed), sum(x.completed_in_time), sum(x.evaluations), sum(x.satisfied), sum(x.unsatisfied), sum(x.no_response), sum(x.returns), sum(x.reopened), sum(x.overdue)
        FROM unnest(runs) AS x GROUP BY x.unit_id, x.month
        ON CONFLICT (unit_id, month, slot) DO UPDATE SET assigned = u.assigned + excluded.assigned, accepted = u.accepted + excluded.accepted, accepted_in_time = u.accepted_in_time + excluded.accepted_in_time, completed = u.completed + excluded.completed, completed_in_time = u.completed_in_time + excluded.completed_in_time, evaluations = u.evaluations + excluded.evaluations, satisfied = u.satisfied + excluded.satisfied, unsatisfied = u.unsatisfied + excluded.unsatisfied, no_response = u.no_response + excluded.no_response, returns = u.returns + excluded.returns, reopened = u.reopened + excluded.reopened, overdue = u.overdue + excluded.overdue;
    END IF;
END
$fn$;
"""

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
"""

import re

from store.migrations.sql_0001_tables import NEED_SUMMARY_COLUMNS, STAT_COUNTERS, STAT_SLOTS

_COUNTERS = ", ".join(STAT_COUNTERS)
_ANY_COUNT = " OR ".join(f"c_{c} <> 0" for c in STAT_COUNTERS)
_RUN = f"ROW(k_unit, k_month, 0, {', '.join(f'c_{c}' for c in STAT_COUNTERS)})::unit_monthly_stat_slots"
# Closes the run of credits gathered for (k_unit, k_month) when the unit or month changes:
# kept in `runs` (a batch may credit several units) and the counters start again. Credits to an
# unknown unit (evaluation before any assignment) are dropped, as are runs that add nothing.
_NEXT_RUN = f"""IF k_unit IS NOT NULL AND ({_ANY_COUNT}) THEN
                runs := runs || {_RUN};
            END IF;
            {" ".join(f"c_{c} := 0;" for c in STAT_COUNTERS)}"""
_ADD = ", ".join(f"{c} = u.{c} + excluded.{c}" for c in STAT_COUNTERS)
# One run (every one-event append, most batches): its row straight from the variables. Several:
# summed per (unit, month) in one statement.
_WRITE_STATS = f"""IF cardinality(runs) = 0 THEN
        IF k_unit IS NOT NULL AND ({_ANY_COUNT}) THEN
            INSERT INTO unit_monthly_stat_slots AS u (unit_id, month, slot, {_COUNTERS})
            VALUES (k_unit, k_month, pg_backend_pid() % {STAT_SLOTS},
                    {", ".join(f"c_{c}" for c in STAT_COUNTERS)})
            ON CONFLICT (unit_id, month, slot) DO UPDATE SET {_ADD};
        END IF;
    ELSE
        {_NEXT_RUN}
        INSERT INTO unit_monthly_stat_slots AS u (unit_id, month, slot, {_COUNTERS})
        SELECT x.unit_id, x.month, pg_backend_pid() % {STAT_SLOTS},
               {", ".join(f"sum(x.{c})" for c in STAT_COUNTERS)}
        FROM unnest(runs) AS x GROUP BY x.unit_id, x.month
        ON CONFLICT (unit_id, month, slot) DO UPDATE SET {_ADD};
    END IF;"""


def _credit(unit: str) -> str:
    """Make `unit` (this event's month) the run being counted; all credits of one event go to
    one unit, so the counters after this line are simply incremented."""
    return f"""cu := {unit};
        IF cu IS DISTINCT FROM k_unit OR m IS DISTINCT FROM k_month THEN
            {_NEXT_RUN}
            k_unit := cu; k_month := m;
        END IF;"""


# Same rules as 0001's fold, branch by branch (type -> body).
_BRANCHES = {
    "DemandSubmitted": """
        s.stage := 'collection'; s.channel := p->>'channel'; s.external_id := p->>'external_id';
        s.title := p->>'title'; s.submitted_at := at;
        s.requester_id := p->'requester'->>'requester_id';
        s.requester_kind := p->'requester'->>'kind';
        s.requester_name := df_mask_text(p->'requester'->>'name');
        s.requester_phone := df_mask_phone(p->'requester'->>'phone');
        s.organisation := p->'requester'->>'organisation';
        s.street := p->'location'->>'street'; s.community := p->'location'->>'community';
        s.grid := p->'location'->>'grid'; s.building := p->'location'->>'building';
        s.address := df_mask_text(p->'location'->>'address');""",
    "InformationRequested": """
        s.stage := 'collection';""",
    "ReportLinked": """
        s.linked_reports := s.linked_reports + 1;""",
    "DemandMerged": """
        s.stage := 'closed'; s.closed_at := at; s.outcome := 'merged'; s.task := NULL;""",
    "ClassificationRequested": """
        s.stage := 'classification';""",
    "DemandClassified": """
        s.stage := 'classification'; s.category := p->>'category'; s.tier := p->>'tier';
        s.urgency := p->>'urgency';""",
    "DemandReclassified": """
        s.category := p->>'category'; s.tier := p->>'tier'; s.urgency := p->>'urgency';""",
    "DemandAssigned": f"""
        s.stage := 'assignment'; s.assigned_unit := p->>'unit_id'; s.unit_kind := p->>'unit_kind';
        s.task := 'accept'; s.due_at := (p->>'accept_due_at')::timestamptz;
        {_credit("s.assigned_unit")}
        c_assigned := c_assigned + 1;""",
    "DemandReturned": f"""
        s.returns := s.returns + 1;
        {_credit("p->>'unit_id'")}
        c_returns := c_returns + 1;
        s.stage := 'assignment'; s.assigned_unit := NULL; s.unit_kind := NULL;
        s.task := NULL; s.due_at := NULL;""",
    "DemandAccepted": f"""
        {_credit("p->>'unit_id'")}
        c_accepted := c_accepted + 1;
        IF s.task IS DISTINCT FROM 'accept' OR s.due_at IS NULL OR at <= s.due_at THEN
            c_accepted_in_time := c_accepted_in_time + 1;
        END IF;
        s.stage := 'handling'; s.assigned_unit := p->>'unit_id'; s.task := 'handle';
        s.due_at := (p->>'due_at')::timestamptz; s.overdue := false; s.accepted_at := at;""",
    "HandlingEscalated": f"""
        s.escalations := s.escalations + 1;
        IF p->>'cause' IN ('deadline_breached', 'acceptance_timeout') THEN
            s.overdue := true;
            {_credit("p->>'from_unit'")}
            c_overdue := c_overdue + 1;
        END IF;
        s.assigned_unit := p->>'to_unit'; s.unit_kind := p->>'to_kind';
        s.due_at := (p->>'due_at')::timestamptz;
        IF s.stage = 'evaluation' THEN s.stage := 'handling'; END IF;
        IF s.stage <> 'closed' THEN s.task := coalesce(s.task, 'handle'); END IF;""",
    "ExtensionApproved": """
        s.extensions := s.extensions + 1; s.due_at := (p->>'due_at')::timestamptz;""",
    "HandlingCompleted": f"""
        s.stage := 'evaluation'; s.task := NULL; s.overdue := false; s.completed_at := at;
        {_credit("p->>'unit_id'")}
        c_completed := c_completed + 1;
        IF (p->>'in_time')::boolean THEN
            c_completed_in_time := c_completed_in_time + 1;
        END IF;""",
    "EvaluationSubmitted": f"""
        {_credit("s.assigned_unit")}
        c_evaluations := c_evaluations + 1;
        IF p->>'rating' = 'unsatisfied' THEN
            c_unsatisfied := c_unsatisfied + 1;
        ELSE
            c_satisfied := c_satisfied + 1;
        END IF;""",
    "EvaluationWindowClosed": f"""
        n := jsonb_array_length(p->'missing_reviewers');
        {_credit("s.assigned_unit")}
        c_evaluations := c_evaluations + n; c_no_response := c_no_response + n;""",
    "DemandReopened": f"""
        s.stage := 'handling'; s.reopenings := s.reopenings + 1; s.task := 'handle';
        s.due_at := NULL;
        {_credit("s.assigned_unit")}
        c_reopened := c_reopened + 1;""",
    "DemandClosed": """
        s.stage := 'closed'; s.closed_at := at; s.outcome := p->>'outcome';
        s.satisfied := (p->>'satisfied')::boolean; s.task := NULL;""",
}

_FOLD = "CASE t" + "".join(
    f"\n    WHEN '{t}' THEN{body}" for t, body in _BRANCHES.items()
) + "\n    ELSE NULL;\n    END CASE;"

_ALWAYS = ["last_version", "updated_at"]


def _assigned(body: str) -> list[str]:
    """need_summary columns a branch may assign, in table order, plus the two always set."""
    names = set(re.findall(r"\bs\.(\w+) :=", body))
    return [c for c, _ in NEED_SUMMARY_COLUMNS if c in names] + _ALWAYS


def _update(columns: list[str]) -> str:
    sets = ", ".join(f"{c} = s.{c}" for c in columns)
    return f"UPDATE need_summary SET {sets} WHERE stream_id = p_stream;"


_ALL_COLUMNS = [c for c, _ in NEED_SUMMARY_COLUMNS[1:]]
_SUMMARY_SET = ", ".join(f"{c} = excluded.{c}" for c in _ALL_COLUMNS)
# One event: update only what its type can change (the row is locked by the stream head, so
# the other columns hold what `s` read). Several events: every column, once.
_WRITE_ONE = "CASE t" + "".join(
    f"\n        WHEN '{t}' THEN {_update(_assigned(body))}" for t, body in _BRANCHES.items()
) + f"\n        ELSE {_update(_ALWAYS)}\n        END CASE;"

PROJECT = f"""
CREATE OR REPLACE FUNCTION df_project(p_stream text, p_events jsonb) RETURNS void
LANGUAGE plpgsql AS $fn$
DECLARE
    s need_summary; existed boolean; e jsonb; p jsonb; t text; at timestamptz; m date;
    n integer; events integer := 0;
    cu text; k_unit text; k_month date; runs unit_monthly_stat_slots[] := '{{}}';
    {" ".join(f"c_{c} integer := 0;" for c in STAT_COUNTERS)}
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
        {_FOLD}
        s.last_version := (e->>'version')::integer;
    END LOOP;
    s.updated_at := now();
    IF NOT existed THEN
        INSERT INTO need_summary SELECT (s).*
            ON CONFLICT (stream_id) DO UPDATE SET {_SUMMARY_SET};
    ELSIF events = 1 THEN
        {_WRITE_ONE}
    ELSE
        {_update(_ALL_COLUMNS)}
    END IF;
    {_WRITE_STATS}
END
$fn$;
"""

# Each element of p_events: event_id, type, schema_version, payload, actor_id, actor_role,
# actor_unit, occurred_at, version — as in 0001. Elements are read by index (`p_events->i`)
# rather than through a set-returning function, and one event is inserted with VALUES.
_FIELDS = """p_stream, p_expected + i + 1, e->>'event_id', e->>'type',
            (e->>'schema_version')::integer, e->'payload', e->>'actor_id', e->>'actor_role',
            e->>'actor_unit', (e->>'occurred_at')::timestamptz"""

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
        h := sha256(h || df_event_digest(""" + _FIELDS.replace("i + 1", "1") + """));
        INSERT INTO events (stream_id, version, event_id, type, schema_version, payload,
                            actor_id, actor_role, actor_unit, occurred_at, hash)
        VALUES (""" + _FIELDS.replace("i + 1", "1") + """, h);
    ELSE
        FOR i IN 0 .. n - 1 LOOP
            e := p_events->i;
            h := sha256(h || df_event_digest(""" + _FIELDS + """));
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

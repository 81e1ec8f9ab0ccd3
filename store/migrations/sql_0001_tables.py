"""DDL of revision 0001: the events table, stream heads and the projection tables.

Kept as frozen text (not generated from store/schema.py) so the revision never changes after it
shipped; tests compare store/schema.py with the migrated database instead.
"""

TABLES = """
CREATE TABLE IF NOT EXISTS events (
    position bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tx_id xid8 NOT NULL DEFAULT pg_current_xact_id(),
    stream_id text NOT NULL,
    version integer NOT NULL CHECK (version >= 1),
    event_id text NOT NULL,
    type text NOT NULL,
    schema_version integer NOT NULL,
    payload jsonb NOT NULL,
    actor_id text NOT NULL,
    actor_role text NOT NULL,
    actor_unit text,
    occurred_at timestamptz NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    hash bytea NOT NULL,
    CONSTRAINT events_stream_version_key UNIQUE (stream_id, version),
    CONSTRAINT events_event_id_key UNIQUE (event_id)
);
CREATE INDEX IF NOT EXISTS events_tx_position_idx ON events (tx_id, position);

CREATE TABLE IF NOT EXISTS stream_heads (
    stream_id text PRIMARY KEY,
    version integer NOT NULL,
    hash bytea NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS need_summary (
    stream_id text PRIMARY KEY, stage text NOT NULL, channel text, external_id text, title text, category text, tier text, urgency text, assigned_unit text, unit_kind text, task text, due_at timestamptz, overdue boolean NOT NULL DEFAULT false, escalations integer NOT NULL DEFAULT 0, returns integer NOT NULL DEFAULT 0, reopenings integer NOT NULL DEFAULT 0, extensions integer NOT NULL DEFAULT 0, linked_reports integer NOT NULL DEFAULT 0, submitted_at timestamptz, accepted_at timestamptz, completed_at timestamptz, closed_at timestamptz, outcome text, satisfied boolean, requester_id text, requester_kind text, requester_name text, requester_phone text, organisation text, street text, community text, grid text, building text, address text, last_version integer NOT NULL, updated_at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS need_summary_inbox_idx
    ON need_summary (assigned_unit, due_at) WHERE task IS NOT NULL;

CREATE OR REPLACE VIEW unit_inbox AS
    SELECT assigned_unit AS unit_id, stream_id, task, due_at, overdue, stage,
           category, tier, urgency, title, unit_kind
    FROM need_summary
    WHERE task IS NOT NULL AND assigned_unit IS NOT NULL;

-- Counters are split over slots chosen by the writing backend: busy units would otherwise be
-- one hot row that every concurrent append waits on until the other commits.
CREATE TABLE IF NOT EXISTS unit_monthly_stat_slots (
    unit_id text NOT NULL,
    month date NOT NULL,
    slot smallint NOT NULL,
    assigned integer NOT NULL DEFAULT 0, accepted integer NOT NULL DEFAULT 0, accepted_in_time integer NOT NULL DEFAULT 0, completed integer NOT NULL DEFAULT 0, completed_in_time integer NOT NULL DEFAULT 0, evaluations integer NOT NULL DEFAULT 0, satisfied integer NOT NULL DEFAULT 0, unsatisfied integer NOT NULL DEFAULT 0, no_response integer NOT NULL DEFAULT 0, returns integer NOT NULL DEFAULT 0, reopened integer NOT NULL DEFAULT 0, overdue integer NOT NULL DEFAULT 0,
    PRIMARY KEY (unit_id, month, slot)
);

CREATE OR REPLACE VIEW unit_monthly_stats AS
    SELECT unit_id, month, sum(assigned)::integer AS assigned, sum(accepted)::integer AS accepted, sum(accepted_in_time)::integer AS accepted_in_time, sum(completed)::integer AS completed, sum(completed_in_time)::integer AS completed_in_time, sum(evaluations)::integer AS evaluations, sum(satisfied)::integer AS satisfied, sum(unsatisfied)::integer AS unsatisfied, sum(no_response)::integer AS no_response, sum(returns)::integer AS returns, sum(reopened)::integer AS reopened, sum(overdue)::integer AS overdue
    FROM unit_monthly_stat_slots GROUP BY unit_id, month;

CREATE OR REPLACE VIEW unit_monthly_rates AS
    SELECT s.*,
        round(accepted_in_time::numeric / NULLIF(accepted, 0), 4) AS response_rate,
        round(completed::numeric / NULLIF(assigned, 0), 4) AS resolution_rate,
        round(completed_in_time::numeric / NULLIF(completed, 0), 4) AS on_time_resolution_rate,
        round(satisfied::numeric / NULLIF(evaluations, 0), 4) AS satisfaction_rate,
        round(returns::numeric / NULLIF(assigned, 0), 4) AS return_rate,
        round(reopened::numeric / NULLIF(completed, 0), 4) AS reopen_rate,
        round(overdue::numeric / NULLIF(assigned, 0), 4) AS overdue_rate
    FROM unit_monthly_stats s;
"""


def role_split(role: str) -> str:
    """The app role may read and insert events, never change them; it maintains projections."""
    r = '"' + role.replace('"', '""') + '"'
    lit = "'" + role.replace("'", "''") + "'"
    return f"""
DO $$ BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = {lit}) THEN
        CREATE ROLE {r} NOLOGIN;
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;  -- another database of this cluster created it at the same moment
END $$;
GRANT USAGE ON SCHEMA public TO {r};
REVOKE ALL ON events FROM {r};
GRANT SELECT, INSERT ON events TO {r};
GRANT SELECT, INSERT, UPDATE ON stream_heads TO {r};
GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON need_summary, unit_monthly_stat_slots TO {r};
GRANT SELECT ON unit_inbox, unit_monthly_stats, unit_monthly_rates TO {r};
"""

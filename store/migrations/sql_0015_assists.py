"""SQL of revision 0015: the sub-tasks of joint handling (联合办理).

`need_assists` holds one row per sub-task a need's lead unit asked another unit for: who must
do it now (`unit_id`, a rung above the unit asked after a breach), the unit asked, the lead,
the task, its status, deadline and overdue flag, the answer (report, or why declined or
released), and the typed sub-task itself (`assist`, as domain.assists.Assist dumps it) from
which the next event's row is derived. The need's append path writes it in the append's
transaction, whenever a batch holds sub-task events (store/assists.py); rebuild-projections
rebuilds it from the events. The open rows feed the assisting unit's inbox; every row lets the
units it names read the need. No existing row to move: the events are new.

Frozen: literal text as the revision shipped; never edit a shipped revision, add a new one.
"""

TABLES = """
CREATE TABLE IF NOT EXISTS need_assists (
    stream_id text NOT NULL,
    assist_id text NOT NULL,
    unit_id text NOT NULL,
    asked_unit text NOT NULL,
    lead_unit text NOT NULL,
    task text NOT NULL,
    status text NOT NULL,
    due_at timestamptz NOT NULL,
    overdue boolean NOT NULL DEFAULT false,
    escalations integer NOT NULL DEFAULT 0,
    warning_percent integer,
    answer text,
    in_time boolean,
    requested_at timestamptz NOT NULL,
    closed_at timestamptz,
    assist jsonb NOT NULL,
    last_version integer NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (stream_id, assist_id)
);
CREATE INDEX IF NOT EXISTS need_assists_open_idx ON need_assists (unit_id, due_at)
    WHERE status IN ('requested', 'accepted');
CREATE INDEX IF NOT EXISTS need_assists_asked_idx ON need_assists (asked_unit);
"""


def assists_grant(role: str) -> str:
    """The app role keeps the sub-task rows (and truncates them to rebuild); a no-op below
    revision 0015 (store.migrate re-applies grants after every upgrade)."""
    r = '"' + role.replace('"', '""') + '"'
    return f"""
DO $$ BEGIN
    IF to_regclass('public.need_assists') IS NOT NULL THEN
        GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON need_assists TO {r};
    END IF;
END $$;
"""

"""SQL of revision 0013: the resource list (资源清单), the project list (项目清单) and the
append-only history of their changes, and their grant (store/lists.py reads and writes them).

Frozen text: a later change to these tables is a new revision."""

LISTS = """
CREATE TABLE IF NOT EXISTS list_resources (
    id text PRIMARY KEY,
    owner_unit text NOT NULL,
    kind text NOT NULL CHECK (kind IN ('venue', 'service', 'volunteers')),
    name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    description text NOT NULL DEFAULT '',
    capacity integer CHECK (capacity IS NULL OR capacity > 0),
    items jsonb NOT NULL DEFAULT '[]',
    status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'retired')),
    version integer NOT NULL DEFAULT 1,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS list_resources_owner_idx ON list_resources (owner_unit, status);
CREATE TABLE IF NOT EXISTS list_projects (
    id text PRIMARY KEY,
    name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    description text NOT NULL DEFAULT '',
    community text NOT NULL,
    period_from date NOT NULL,
    period_to date NOT NULL,
    items jsonb NOT NULL,
    resources text[] NOT NULL DEFAULT '{}',
    owner_units text[] NOT NULL,
    starts_on date NOT NULL,
    ends_on date NOT NULL,
    status text NOT NULL DEFAULT 'planned'
        CHECK (status IN ('planned', 'running', 'completed', 'cancelled')),
    result_summary text,
    completed_at timestamptz,
    version integer NOT NULL DEFAULT 1,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CHECK (period_to >= period_from),
    CHECK (ends_on >= starts_on)
);
CREATE INDEX IF NOT EXISTS list_projects_community_idx ON list_projects (community, status);
CREATE TABLE IF NOT EXISTS list_changes (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    list text NOT NULL CHECK (list IN ('resource', 'project')),
    entry_id text NOT NULL,
    version integer NOT NULL,
    change text NOT NULL,
    actor_id text NOT NULL,
    actor_role text NOT NULL,
    actor_unit text,
    at timestamptz NOT NULL DEFAULT now(),
    entry jsonb NOT NULL,
    UNIQUE (list, entry_id, version)
);
"""


def lists_grant(role: str) -> str:
    """The app role's rights on the lists: it keeps the entries (no DELETE: an entry is
    retired or cancelled, never removed) and only appends to their history (no UPDATE or
    DELETE on `list_changes`); a no-op below revision 0013 (store.migrate re-applies grants
    after every upgrade)."""
    r = '"' + role.replace('"', '""') + '"'
    return f"""
DO $$ BEGIN
    IF to_regclass('public.list_changes') IS NOT NULL THEN
        GRANT SELECT, INSERT, UPDATE ON list_resources, list_projects TO {r};
        GRANT SELECT, INSERT ON list_changes TO {r};
    END IF;
END $$;
"""

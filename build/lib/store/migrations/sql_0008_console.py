"""SQL of revision 0008: the console's sign-in sessions and failed-sign-in counters, and
their grant (store/console.py reads and writes them)."""

CONSOLE = """
CREATE TABLE IF NOT EXISTS console_sessions (
    token_sha256 bytea PRIMARY KEY,
    user_name text NOT NULL,
    csrf_token text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS console_sessions_expires_idx ON console_sessions (expires_at);
CREATE TABLE IF NOT EXISTS console_sign_in_failures (
    user_name text PRIMARY KEY,
    failures integer NOT NULL,
    first_failure_at timestamptz NOT NULL,
    locked_until timestamptz
);
"""


def console_grant(role: str) -> str:
    """The app role's rights on the console tables; a no-op below revision 0008."""
    r = '"' + role.replace('"', '""') + '"'
    return f"""
DO $$ BEGIN
    IF to_regclass('public.console_sessions') IS NOT NULL THEN
        GRANT SELECT, INSERT, UPDATE, DELETE ON console_sessions, console_sign_in_failures
            TO {r};
    END IF;
END $$;
"""

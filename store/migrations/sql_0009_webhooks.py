"""SQL of revision 0009: the outbox written in the same transaction as its event, webhook
subscriptions and deliveries, and their grant (store/webhooks.py reads and writes them)."""

# The event types a channel hears about (domain/notifications.py NOTIFIED, frozen here).
OUTBOX_TYPES = (
    "DemandSubmitted",
    "DemandMerged",
    "InformationRequested",
    "DemandAssigned",
    "DemandAccepted",
    "ExtensionApproved",
    "HandlingCompleted",
    "EvaluationRequested",
    "DemandClosed",
    "DemandReopened",
)

WEBHOOKS = f"""
CREATE TABLE IF NOT EXISTS outbox (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id text NOT NULL UNIQUE,
    stream_id text NOT NULL,
    version integer NOT NULL,
    type text NOT NULL,
    occurred_at timestamptz NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    fanned_out_at timestamptz
);
CREATE INDEX IF NOT EXISTS outbox_waiting_idx ON outbox (id) WHERE fanned_out_at IS NULL;
CREATE OR REPLACE FUNCTION df_outbox() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO outbox (event_id, stream_id, version, type, occurred_at)
    VALUES (NEW.event_id, NEW.stream_id, NEW.version, NEW.type, NEW.occurred_at)
    ON CONFLICT (event_id) DO NOTHING;
    RETURN NULL;
END $$;
DROP TRIGGER IF EXISTS events_outbox ON events;
CREATE TRIGGER events_outbox AFTER INSERT ON events FOR EACH ROW
    WHEN (NEW.type IN ({", ".join(f"'{t}'" for t in OUTBOX_TYPES)}))
    EXECUTE FUNCTION df_outbox();
CREATE TABLE IF NOT EXISTS webhook_subscriptions (
    id text PRIMARY KEY,
    integrator_id text NOT NULL,
    url text NOT NULL,
    secret text NOT NULL,
    previous_secret text,
    previous_secret_until timestamptz,
    types text[] NOT NULL DEFAULT '{{}}',
    active boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS webhook_subscriptions_integrator_idx
    ON webhook_subscriptions (integrator_id) WHERE active;
CREATE TABLE IF NOT EXISTS webhook_deliveries (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    subscription_id text NOT NULL REFERENCES webhook_subscriptions (id) ON DELETE CASCADE,
    outbox_id bigint NOT NULL REFERENCES outbox (id),
    stream_id text NOT NULL,
    version integer NOT NULL,
    via_stream_id text NOT NULL,
    status text NOT NULL DEFAULT 'pending',
    attempts integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_status integer,
    last_error text,
    created_at timestamptz NOT NULL DEFAULT now(),
    delivered_at timestamptz,
    UNIQUE (subscription_id, outbox_id)
);
CREATE INDEX IF NOT EXISTS webhook_deliveries_due_idx
    ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX IF NOT EXISTS webhook_deliveries_order_idx
    ON webhook_deliveries (subscription_id, stream_id, version) WHERE status = 'pending';
CREATE INDEX IF NOT EXISTS webhook_deliveries_dead_idx
    ON webhook_deliveries (subscription_id) WHERE status = 'dead';
"""


def webhooks_grant(role: str) -> str:
    """The app role's rights on the outbox and webhook tables; a no-op below revision 0009."""
    r = '"' + role.replace('"', '""') + '"'
    return f"""
DO $$ BEGIN
    IF to_regclass('public.outbox') IS NOT NULL THEN
        GRANT SELECT, INSERT, UPDATE ON outbox TO {r};
        GRANT SELECT, INSERT, UPDATE, DELETE ON webhook_subscriptions, webhook_deliveries
            TO {r};
    END IF;
END $$;
"""

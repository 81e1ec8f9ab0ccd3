"""PL/pgSQL of revision 0005: several appends, of any streams, in one call and one transaction.

`df_append_group` runs `df_append` once per append, in the order given, over slices of one
set of flattened arrays (`p_ends[i]` is the last event of append i, `p_credit_ends[i]` its last
credit row), and answers each append's status, actual version and reason. A conflict or a
retry of one append writes nothing for it and does not stop the others; an error (a stale
summary row, an event id stored in another stream, a deadlock) rolls the whole group back,
and the client then sends each append on its own (store/group.py).
"""

GROUP = """
CREATE OR REPLACE FUNCTION df_append_group(
    p_streams text[], p_expected integer[], p_ends integer[],
    p_event_ids text[], p_types text[], p_schema_versions integer[], p_payloads jsonb[],
    p_actor_ids text[], p_actor_roles text[], p_actor_units text[], p_occurred_at timestamptz[],
    p_digests bytea[], p_summaries need_summary[], p_credit_ends integer[],
    p_credits unit_monthly_stat_slots[], p_refolded boolean[],
    OUT status text[], OUT actual integer[], OUT reason text[]
) LANGUAGE plpgsql AS $fn$
DECLARE
    lo integer := 1; hi integer; clo integer := 1; r record;
BEGIN
    FOR i IN 1 .. cardinality(p_streams) LOOP
        hi := p_ends[i];
        SELECT * INTO r FROM df_append(
            p_streams[i], p_expected[i], p_event_ids[lo:hi], p_types[lo:hi],
            p_schema_versions[lo:hi], p_payloads[lo:hi], p_actor_ids[lo:hi],
            p_actor_roles[lo:hi], p_actor_units[lo:hi], p_occurred_at[lo:hi], p_digests[lo:hi],
            p_summaries[i], p_credits[clo:p_credit_ends[i]], p_refolded[i]);
        status[i] := r.status; actual[i] := r.actual; reason[i] := r.reason;
        lo := hi + 1;
        clo := p_credit_ends[i] + 1;
    END LOOP;
END
$fn$;
"""

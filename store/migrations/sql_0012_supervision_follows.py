"""SQL of revision 0012: an open 督办 order follows the need when it changes hands.

Before, a need's row kept the open order on the unit first ordered, so when the need was
reassigned or escalated the order vanished from the holder's inbox (the holder is the unit
that must reply) and a missed reply was counted against a unit that no longer held it. Now
the order's unit is the need's holder (domain.deadlines.supervision_answerer), and
`supervision_missed` goes to the unit that had to reply when the deadline passed.

Existing rows and months are moved forward from the events, by the rules of store/fold.py:
an open order's unit is the unit of the latest order, assignment or escalation on the
stream; each missed reply is moved from the unit last ordered to the unit that held the
need then (a correcting pair of counts in slot 0; the slot sums are what the views read).

Frozen: literal text as the revision shipped; never edit a shipped revision, add a new one.
"""

ROWS = """
UPDATE need_summary s SET supervision_unit = h.unit_id
FROM (
    SELECT DISTINCT ON (stream_id) stream_id,
        CASE type WHEN 'HandlingEscalated' THEN payload->>'to_unit'
                  ELSE payload->>'unit_id' END AS unit_id
    FROM events
    WHERE type IN ('SupervisionOrdered', 'DemandAssigned', 'HandlingEscalated')
    ORDER BY stream_id, version DESC
) h
WHERE s.stream_id = h.stream_id AND s.supervision_unit IS NOT NULL
  AND h.unit_id IS NOT NULL AND s.supervision_unit <> h.unit_id;
"""

MONTHS = """
WITH missed AS (
    SELECT date_trunc('month', e.occurred_at AT TIME ZONE 'Asia/Shanghai')::date AS month,
        (SELECT o.payload->>'unit_id' FROM events o
         WHERE o.stream_id = e.stream_id AND o.version < e.version
           AND o.type = 'SupervisionOrdered'
         ORDER BY o.version DESC LIMIT 1) AS was,
        (SELECT CASE h.type WHEN 'HandlingEscalated' THEN h.payload->>'to_unit'
                            ELSE h.payload->>'unit_id' END
         FROM events h
         WHERE h.stream_id = e.stream_id AND h.version < e.version
           AND h.type IN ('SupervisionOrdered', 'DemandAssigned', 'HandlingEscalated')
         ORDER BY h.version DESC LIMIT 1) AS now
    FROM events e
    WHERE e.type = 'SupervisionReplyMissed'
), moves AS (
    SELECT was AS unit_id, month, -1 AS n FROM missed
    WHERE was IS NOT NULL AND now IS NOT NULL AND was <> now
    UNION ALL
    SELECT now, month, 1 FROM missed
    WHERE was IS NOT NULL AND now IS NOT NULL AND was <> now
)
INSERT INTO unit_monthly_stat_slots AS u (unit_id, month, slot, supervision_missed)
SELECT unit_id, month, 0, sum(n)::integer FROM moves GROUP BY unit_id, month
ON CONFLICT (unit_id, month, slot) DO UPDATE SET
    supervision_missed = u.supervision_missed + excluded.supervision_missed;
"""

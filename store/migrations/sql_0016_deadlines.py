"""SQL of revision 0016: the due time a need's row shows is the need's running deadline.

Before, the row's `due_at` disagreed with the need's state in three places: a reopened need
showed no due time (the reopening carries its deadline), a need whose handling clock resumed
after an information request kept the deadline from before the pause, and a need the
dispatcher had classified still showed the dispatcher's deadline. store/fold.py now reads
those events as domain/transitions.py does; this revision moves existing rows forward from
the events by the same rules:
- a row in handling is due at the deadline of the latest acceptance, escalation, approved
  extension, resumed clock or reopening on its stream;
- a row in classification whose latest classification event is the classification itself
  has no due time.

Frozen: literal text as the revision shipped; never edit a shipped revision, add a new one.
"""

HANDLING = """
UPDATE need_summary s SET due_at = (h.payload->>'due_at')::timestamptz
FROM (
    SELECT DISTINCT ON (stream_id) stream_id, payload
    FROM events
    WHERE type IN ('DemandAccepted', 'HandlingEscalated', 'ExtensionApproved',
                   'HandlingClockResumed', 'DemandReopened')
    ORDER BY stream_id, version DESC
) h
WHERE s.stream_id = h.stream_id AND s.stage = 'handling'
  AND s.due_at IS DISTINCT FROM (h.payload->>'due_at')::timestamptz;
"""

CLASSIFIED = """
UPDATE need_summary s SET due_at = NULL
FROM (
    SELECT DISTINCT ON (stream_id) stream_id, type
    FROM events
    WHERE type IN ('ClassificationRequested', 'DemandClassified')
    ORDER BY stream_id, version DESC
) c
WHERE s.stream_id = c.stream_id AND s.stage = 'classification'
  AND c.type = 'DemandClassified' AND s.due_at IS NOT NULL;
"""

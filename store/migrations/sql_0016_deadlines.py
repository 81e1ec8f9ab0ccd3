"""SQL of revision 0016: the due time a need's row shows is the need's running deadline.

Before, the row's `due_at` disagreed with the need's state in four places: a reopened need
showed no due time (the reopening carries its deadline), a need whose handling clock resumed
after an information request kept the deadline from before the pause, a need the dispatcher
had classified still showed the dispatcher's deadline, and a need a co-building project
completed before anyone accepted it kept the acceptance deadline. store/fold.py now reads
those events as domain/transitions.py does. This revision moves existing rows forward from
the events by the same rule: a row with no acceptance task open (any stage) is due at the
deadline of the latest event that sets the need's clock (a classification request, a
return, an adjudication request, an acceptance, an escalation, an approved extension, a
resumed clock, a reopening), or at none when that event is a classification or an
assignment (an assignment's own deadline is the acceptance task's, kept as it is).
Rows of needs no such event has touched (still in collection, merged) are left alone.

Frozen: literal text as the revision shipped; never edit a shipped revision, add a new one.
"""

DEADLINES = """
UPDATE need_summary s SET due_at = h.due_at
FROM (
    SELECT DISTINCT ON (stream_id) stream_id,
        CASE WHEN type IN ('DemandClassified', 'DemandAssigned') THEN NULL
             ELSE (payload->>'due_at')::timestamptz END AS due_at
    FROM events
    WHERE type IN ('ClassificationRequested', 'DemandClassified', 'DemandAssigned',
                   'DemandReturned', 'AdjudicationRequested', 'DemandAccepted',
                   'HandlingEscalated', 'ExtensionApproved', 'HandlingClockResumed',
                   'DemandReopened')
    ORDER BY stream_id, version DESC
) h
WHERE s.stream_id = h.stream_id AND s.task IS DISTINCT FROM 'accept'
  AND s.due_at IS DISTINCT FROM h.due_at;
"""

"""Takedowns that reach every artifact (issue 17).

    requests.py  the one opt-out request record (requests.jsonl; serve's POST /api/optout
                 appends through it): validate_request, new_request, append_request;
                 the queue and list files -> TakedownAsk
    match.py     which samples an ask removes (registry and blocklist rules)
    lists.py     the dataset's own registry and blocklist files (later downloads refuse)
    record.py    takedown.json (TakedownRecord)
What every step reads to skip taken-down samples is grassroots.taken_down (below the
steps: grassroots.ledger reads it). The steps are grassroots.stages.takedown.Takedown
(vN -> vN+1) and grassroots.stages.purge.Purge (one directory, in place); making a
takedown release (takedown.json, the index rebuilt, the purge of everything else under
the dataset: grassroots.purge, --purge-parent) is grassroots.releases.make_takedown.
"""

"""Takedowns that reach every artifact (issue 17).

    requests.py  the one opt-out request record (requests.jsonl; serve's POST /api/optout
                 appends through it): validate_request, new_request, append_request;
                 the queue and list files -> TakedownAsk
    match.py     which samples an ask removes (registry and blocklist rules)
    lists.py     the dataset's own registry and blocklist files (later downloads refuse)
The step itself is grassroots.stages.takedown.Takedown; making a takedown release
(vN -> vN+1, takedown.json, the index rebuilt, --purge-parent) is grassroots.releases.make_takedown.
"""

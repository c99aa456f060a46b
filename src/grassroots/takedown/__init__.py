"""Takedowns that reach every artifact (issue 17).

    requests.py  the requests.jsonl record format, list files -> TakedownAsk
    match.py     which samples an ask removes (registry and blocklist rules)
    lists.py     the dataset's own registry and blocklist files (later downloads refuse)
    release.py   make_takedown: vN -> vN+1, takedown.json, the index hook, --purge-parent
The step itself is grassroots.stages.takedown.Takedown.
"""

"""Rights layer: honour every machine-readable opt-out, block listed hashes, record why.

See README.md in this folder and /specs/rights.md.
"""

import importlib

# Names resolved on first use (PEP 562): extract imports grassroots.rights.html_meta
# for every WAT/WARC worker and must not pay for the fetcher and decision layers
# (~35 ms); ``from grassroots.rights import RightsChecker`` works as before.
_HOME = {
    "AI_TRAINING_TOKENS": "config", "RightsConfig": "config",
    "RightsChecker": "decide", "Verdict": "decide",
    "FetchedText": "fetcher", "TextFetcher": "fetcher",
    "html_meta_signal": "html_meta", "page_signals_from_html": "html_meta",
    "make_page_signal": "page_signals", "parse_page_signal": "page_signals",
    "REASON_PRECEDENCE": "signals", "Outcome": "signals", "Signal": "signals",
}


def __getattr__(name: str):
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module 'grassroots.rights' has no attribute {name!r}")
    return getattr(importlib.import_module(f"grassroots.rights.{module}"), name)


__all__ = sorted(_HOME)

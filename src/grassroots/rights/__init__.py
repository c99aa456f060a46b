"""Rights layer: honour every machine-readable opt-out, block listed hashes, record why.

See README.md in this folder and /specs/rights.md.
"""

from grassroots.rights.config import AI_TRAINING_TOKENS, RightsConfig
from grassroots.rights.decide import RightsChecker, Verdict
from grassroots.rights.fetcher import FetchedText, TextFetcher
from grassroots.rights.html_meta import html_meta_signal, page_signals_from_html
from grassroots.rights.page_signals import make_page_signal, parse_page_signal
from grassroots.rights.signals import REASON_PRECEDENCE, Outcome, Signal

__all__ = [
    "AI_TRAINING_TOKENS",
    "FetchedText",
    "Outcome",
    "REASON_PRECEDENCE",
    "RightsChecker",
    "RightsConfig",
    "Signal",
    "TextFetcher",
    "Verdict",
    "html_meta_signal",
    "make_page_signal",
    "page_signals_from_html",
    "parse_page_signal",
]

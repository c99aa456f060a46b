"""The page-signal strings: the one place their format is defined.

extract stores, per candidate, the page-level rights signals it saw as strings in
the ``page_signals`` column; download hands them back to `RightsChecker.pre_fetch`.

=================================  =========================================================
``html_meta:<directive>``          ``<meta name="robots" content="...">``, one per directive
``html_meta@<bot>:<directive>``    ``<meta name="<bot>" content="...">`` for our token and
                                   the AI-training tokens (bot lower-cased)
``tdmrep:<value>``                 ``<meta name="tdm-reservation" content="<value>">``
                                   (value as written, stripped; only ``0``/``1`` count)
``tdm-policy:<url>``               ``<meta name="tdm-policy" content="<url>">``
=================================  =========================================================

Directives are lower-cased with whitespace collapsed; valued ones keep their value
(``html_meta:max-image-preview:large``). Split a string with `parse_page_signal`:
the kind is everything before the first ``:`` (and before ``@``), the value is the rest.
Unknown kinds are ignored by the checks, so new kinds can be added compatibly.
"""

from __future__ import annotations

HTML_META = "html_meta"
TDMREP = "tdmrep"
TDM_POLICY = "tdm-policy"


def make_page_signal(kind: str, value: str, scope: str | None = None) -> str:
    value = " ".join(value.split())
    return f"{kind}@{scope.lower()}:{value}" if scope else f"{kind}:{value}"


def parse_page_signal(text: str) -> tuple[str, str | None, str]:
    """``"html_meta@gptbot:noai"`` → ``("html_meta", "gptbot", "noai")``."""
    head, _, value = text.partition(":")
    kind, _, scope = head.partition("@")
    return kind, scope or None, value

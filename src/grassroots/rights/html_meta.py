"""Page-level signals from HTML: ``<meta name="robots">``, bot-named meta and TDMRep meta.

`page_signals_from_html` parses with resiliparse (a real HTML parser; no regex
over HTML) and returns page-signal strings (format: `page_signals`);
`html_meta_signal` decides from such strings with the X-Robots-Tag directive rules.
"""

from __future__ import annotations

from collections.abc import Sequence

from resiliparse.parse.html import HTMLTree

from grassroots.rights import page_signals as ps
from grassroots.rights.config import AI_TRAINING_TOKENS, RightsConfig
from grassroots.rights.signals import Signal, refused, unknown
from grassroots.rights.x_robots import first_refusal, parse_directives
from grassroots.schema import Reason

DEFAULT_BOT_NAMES: tuple[str, ...] = ("grassrootsbot", *(t.lower() for t in AI_TRAINING_TOKENS))


def page_signals_from_html(
    html: str | bytes | HTMLTree, bot_names: Sequence[str] = DEFAULT_BOT_NAMES
) -> list[str]:
    """Every rights-relevant ``<meta>`` of a page, as page-signal strings.

    ``html`` may be text, bytes (decoded as UTF-8 with replacement) or an
    already-parsed HTMLTree (extract parses each page once).
    """
    if isinstance(html, bytes):
        tree = HTMLTree.parse_from_bytes(html, "utf-8")
    elif isinstance(html, str):
        tree = HTMLTree.parse(html)
    else:
        tree = html
    if tree.document is None:
        return []
    pairs = [(m.getattr("name") or "", m.getattr("content") or "")
             for m in tree.document.query_selector_all("meta[name]")]
    return page_signals_from_meta(pairs, bot_names)


def html_meta_signal(page_signals: Sequence[str], config: RightsConfig) -> Signal:
    """Refused when a page meta directive that applies to us says no (every image
    taken from that page is refused)."""
    items = []
    for text in page_signals:
        kind, scope, value = ps.parse_page_signal(text)
        if kind == ps.HTML_META:
            items.append((scope, value.lower()))
    if not items:
        return unknown(Reason.HTML_META, "no robots meta")
    hit = first_refusal(items, config)
    if hit:
        return refused(Reason.HTML_META, hit)
    return unknown(Reason.HTML_META, "no opt-out directive")


def page_signals_from_meta(
    pairs: Sequence[tuple[str, str]], bot_names: Sequence[str] = DEFAULT_BOT_NAMES
) -> list[str]:
    """Page-signal strings from ``<meta name=... content=...>`` pairs: the one
    place meta tags become signals (extract passes the pairs of a page it parsed
    once, or a WAT's Head.Metas; `page_signals_from_html` parses then calls this)."""
    bots = {b.lower() for b in bot_names}
    out: list[str] = []
    for raw_name, content in pairs:
        name = (raw_name or "").strip().lower()
        content = content or ""
        if name == "robots" or name in bots:
            scope = None if name == "robots" else name
            for item_scope, directive in parse_directives(content):
                out.append(ps.make_page_signal(ps.HTML_META, directive, item_scope or scope))
        elif name == "tdm-reservation":
            out.append(ps.make_page_signal(ps.TDMREP, content.strip()))
        elif name == "tdm-policy" and content.strip():
            out.append(ps.make_page_signal(ps.TDM_POLICY, content.strip()))
    return out

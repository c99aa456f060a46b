"""Markdown pieces shared by the three documents, and the facts they all state, taken from
CardQuery (so the documents never disagree with each other or with the ledger)."""

from __future__ import annotations

from dataclasses import dataclass

from grassroots.card.query import CardQuery
from grassroots.rights.config import HONOURED_PROTOCOLS

TO_FILL = "**[TO BE FILLED BY THE PROVIDER: {}]**"  # what only a person can say


def fill(what: str) -> str:
    return TO_FILL.format(what)


def num(n) -> str:
    return f"{n:,}" if isinstance(n, int) else f"{n:,.1f}" if isinstance(n, float) else str(n)


def pct(x: float) -> str:
    return f"{x:.1%}"


def table(headers: list[str], rows: list[list]) -> str:
    out = ["| " + " | ".join(headers) + " |", "| " + " | ".join("---" for _ in headers) + " |"]
    out += ["| " + " | ".join(num(c) if isinstance(c, (int, float)) else str(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


def figure(plots: dict[str, tuple[str, str]], name: str, prefix: str = "plots/") -> str:
    if name not in plots:
        return ""
    file, caption = plots[name]
    return f"\n![{caption}]({prefix}{file})\n\n*{caption}*\n"


@dataclass(frozen=True)
class Crawl:
    """What the download runs say about the crawler (the last run's settings)."""

    user_agent: str
    politeness: dict
    rights: dict  # the download step's rights config as manifest.json records it (RightsConfig's fields)
    inputs: list[str]
    runs: int

    @property
    def ai_tokens_checked(self) -> list[str]:
        """The other product tokens robots.txt and ai.txt were read for besides the crawler's
        own (``RightsConfig.tokens``: the AI-training tokens, in conservative mode only)."""
        import dataclasses

        from grassroots.rights.config import RightsConfig

        known = {f.name for f in dataclasses.fields(RightsConfig)}
        cfg = RightsConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in self.rights.items() if k in known})
        return [t for t in cfg.tokens() if t.lower() != cfg.user_agent.lower()]


def public_name(path: str) -> str:
    """How a published card names a file the operator used: its file name for a local
    path (never the folders above it: they name the operator's machine and user), its
    URL's scheme and host for an object store or the web. The operator adds more by hand."""
    path = str(path)
    scheme, sep, rest = path.partition("://")
    if sep and scheme not in ("file", "local"):
        return f"{scheme}://{rest.split('/', 1)[0]}"
    return (rest if sep else path).rstrip("/").rsplit("/", 1)[-1] or path


def crawl(q: CardQuery) -> Crawl | None:
    runs = q.download_runs()
    if not runs:
        return None
    cfg = runs[-1].get("config", {})
    fetch = cfg.get("config", {}).get("fetch", {})
    politeness = {k: fetch.get(k) for k in ("host_concurrency", "host_rps", "concurrency", "timeout", "max_bytes",
                                            "max_redirects", "retries", "max_retry_after")}
    inputs = []
    for run in q.input_runs():
        conf = run.get("config", {})
        inputs += list(conf.get("inputs") or []) or [conf.get("source", {}).get("path", "?")]
    return Crawl(fetch.get("user_agent", "GrassrootsBot"), politeness, cfg.get("rights", {}).get("config", {}),
                 list(dict.fromkeys(public_name(i) for i in inputs)), len(runs))


def politeness(c: Crawl | None) -> str:
    return ", ".join(f"{k}={v}" for k, v in c.politeness.items()) if c else "settings in manifest.json"


def honoured() -> str:
    return "\n".join(f"- {p}" for p in HONOURED_PROTOCOLS)


def refusal_table(q: CardQuery) -> str:
    rows = q.refusals()
    if not rows:
        return "No candidate was refused."
    return table(["protocol (ledger reason)", "samples refused"], [[r, n] for r, n in rows])


def top_domain_table(q: CardQuery) -> str:
    top, distinct = q.top_domains()
    head = (f"Top 10% of the {num(distinct)} registrable domains (eTLD+1) of the kept samples, "
            f"{num(len(top))} listed (N rounded up, ties at the cut-off included); shares are by count of samples.\n\n")
    return head + table(["domain", "samples", "share"], [[d, n, pct(s)] for d, n, s in top])


def chain_table(q: CardQuery) -> str:
    rows = []
    for link in reversed(q.chain()):
        how = {"download": "download with the rights layer",
               "select": f"select `{link.where}`",
               "takedown": f"takedown ({len(link.takedown.requests) if link.takedown else 0} requests)"}[link.how]
        drops = ", ".join(f"{r}: {num(n)}" for r, n in sorted(link.drops.items(), key=lambda kv: -kv[1])) or "none"
        rows.append([link.name, how, link.candidates, link.kept, drops])
    return table(["step", "how", "candidates", "kept", "dropped by reason"], rows)

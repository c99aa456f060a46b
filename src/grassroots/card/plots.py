"""The cards' figures (matplotlib, no display): one function per plot, numbers from CardQuery.

Each returns the figure's file name under card/plots/ and a one-line caption, or None when
the release has nothing to draw (no CLIP scores, no captions).
"""

from __future__ import annotations

import os

from grassroots.card.query import CardQuery

STATUS_COLOURS = {"success": "#2e7d32", "refused": "#8e24aa", "failed": "#c62828", "filtered": "#f9a825"}


def _figure(height: float = 3.2):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, height), dpi=110)
    ax.spines[["top", "right"]].set_visible(False)
    return plt, fig, ax


def _save(plt, fig, folder: str, name: str) -> str:
    fig.tight_layout()
    fig.savefig(os.path.join(folder, name))
    plt.close(fig)
    return name


def _barh(folder, name, labels, values, colours, title, xlabel, percent=False):
    plt, fig, ax = _figure(max(2.2, 0.32 * len(labels) + 1.0))
    bars = ax.barh(range(len(labels)), values, color=colours)
    ax.set_yticks(range(len(labels)), labels)
    ax.invert_yaxis()
    ax.set_title(title, loc="left")
    ax.set_xlabel(xlabel)
    for bar, v in zip(bars, values):
        ax.text(bar.get_width(), bar.get_y() + bar.get_height() / 2, f" {v:.1%}" if percent else f" {v:,}",
                va="center", fontsize=8)
    ax.margins(x=0.15)
    return _save(plt, fig, folder, name)


def outcomes(q: CardQuery, folder: str):
    rows = [(f"download: {r or 'kept'}", n, STATUS_COLOURS.get(s, "grey")) for s, r, n in q.outcomes()]
    for link in q.chain()[:-1]:
        rows += [(f"{link.name}: {r}", n, STATUS_COLOURS["refused" if r == "takedown" else "filtered"])
                 for r, n in link.drops.items()]
    rows.append((f"{q.release}: kept", q.kept, STATUS_COLOURS["success"]))
    name = _barh(folder, "outcomes.png", [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows],
                 "What happened to every candidate", "samples")
    return name, "Every downloaded candidate by outcome and reason, then each release step's drops."


def refusals(q: CardQuery, folder: str):
    rows = q.refusals()
    if not rows:
        return None
    name = _barh(folder, "refusals.png", [r for r, _ in rows], [n for _, n in rows],
                 [STATUS_COLOURS["refused"]] * len(rows), "Refusals by opt-out protocol", "samples refused")
    return name, "Samples not taken because a creator's opt-out said no, by the protocol that said it."


def domains(q: CardQuery, folder: str):
    rows = q.domain_counts(15)
    if not rows:
        return None
    name = _barh(folder, "domains.png", [d for d, _ in rows], [n / q.kept for _, n in rows],
                 ["#1565c0"] * len(rows), "Top domains (share of kept samples)", "share", percent=True)
    return name, "The registrable domains that contribute most of the release's samples."


def image_sizes(q: CardQuery, folder: str):
    sizes = q.image_sizes()
    if not sizes:
        return None
    plt, fig, ax = _figure(3.6)
    ax.scatter([w for w, _ in sizes], [h for _, h in sizes], s=6, alpha=0.5, color="#1565c0")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("original width (px)")
    ax.set_ylabel("original height (px)")
    ax.set_title("Original image sizes", loc="left")
    return _save(plt, fig, folder, "image_sizes.png"), "Width and height of every kept image as downloaded."


def caption_lengths(q: CardQuery, folder: str):
    lengths = q.caption_lengths()
    if not lengths:
        return None
    plt, fig, ax = _figure()
    ax.hist(lengths, bins=min(40, max(5, len(set(lengths)))), color="#00838f")
    ax.set_xlabel("caption length (characters)")
    ax.set_ylabel("samples")
    ax.set_title("Caption lengths", loc="left")
    return _save(plt, fig, folder, "caption_lengths.png"), "How long the alt-text captions are."


def languages(q: CardQuery, folder: str):
    rows = q.languages()[:15]
    if not rows:
        return None
    name = _barh(folder, "languages.png", [lang for lang, _, _ in rows], [s for _, _, s in rows],
                 ["#6d4c41"] * len(rows), "Page languages (share of kept samples)", "share", percent=True)
    return name, "The language of the page each sample came from."


def clip_scores(q: CardQuery, folder: str):
    values = q.attribute_values("clip", "clip")
    if not values:
        return None
    plt, fig, ax = _figure()
    ax.hist(values, bins=40, color="#5e35b1")
    ax.set_xlabel("CLIP image-caption cosine")
    ax.set_ylabel("samples")
    ax.set_title("CLIP scores before selection", loc="left")
    caption = "Image-caption similarity of every downloaded sample."
    if "clip" in q.thresholds():
        op, value = q.thresholds()["clip"]
        ax.axvline(value, color="#c62828", linestyle="--", label=f"selected: clip {op} {value:g}")
        ax.legend(frameon=False)
        caption += f" The dashed line is the selection threshold (clip {op} {value:g})."
    return _save(plt, fig, folder, "clip_scores.png"), caption


def concepts(q: CardQuery, folder: str):
    rows = q.concepts(15)
    if not rows:
        return None
    plt, fig, ax = _figure(max(2.4, 0.34 * len(rows) + 1.2))
    at = range(len(rows))
    ax.barh([y - 0.2 for y in at], [n for _, n, _ in rows], height=0.4, color="#90a4ae", label="dataset (kept)")
    ax.barh([y + 0.2 for y in at], [r for _, _, r in rows], height=0.4, color="#2e7d32", label=f"release {q.release}")
    ax.set_yticks(list(at), [e for e, _, _ in rows])
    ax.invert_yaxis()
    ax.set_xlabel("samples whose caption names the entry")
    ax.set_title("Concept entries: the dataset and the release", loc="left")
    ax.legend(frameon=False, loc="lower right", bbox_to_anchor=(1.0, 1.0), ncol=2, fontsize=8)
    caption = ("How many samples name each of the most frequent concept entries (the concepts step), "
               f"in the dataset and in release {q.release}.")
    balance = q.balance()
    if balance:
        caption += (f" The release was balanced (MetaCLIP, T = {balance['T']}, seed {balance['seed']}): "
                    "frequent entries are capped, rare ones kept.")
    return _save(plt, fig, folder, "concepts.png"), caption


PLOTS = (outcomes, refusals, domains, image_sizes, caption_lengths, languages, clip_scores, concepts)


def draw_all(q: CardQuery, folder: str) -> dict[str, tuple[str, str]]:
    """plot name -> (file name under ``folder``, caption) for every plot with data."""
    os.makedirs(folder, exist_ok=True)
    out = {}
    for plot in PLOTS:
        drawn = plot(q, folder)
        if drawn is not None:
            out[plot.__name__] = drawn
    return out

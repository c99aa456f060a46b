"""Page language: py3langid (langid.py's model, shipped inside the package).

Detected from what both WARC and WAT inputs carry: the page title, its meta
description and the alt texts of its candidates (LAION-5B also identified
language from the captions). Chosen by bench/extract_langid.py on 84 short
page-like texts in 14 languages: py3langid 100% at ~80 us/text; lingua 100% at
~8.5 ms/text; resiliparse's detect_fast 73% at ~4 us/text (built for long text).
Only pages that yield at least one candidate are identified.
"""

from __future__ import annotations

from functools import lru_cache

MAX_CHARS = 400  # the cost grows with the text; a title and a few captions suffice
MIN_CONFIDENCE = 0.2  # below this (normalised probability) the language is unknown: null


@lru_cache(maxsize=1)
def _identifier():
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


def detect_language(text: str) -> str | None:
    """ISO 639-1 code (``en``, ``de``, ...) or None when unsure."""
    text = text[:MAX_CHARS]
    if not text.strip():
        return None
    lang, confidence = _identifier().classify(text)
    if confidence < MIN_CONFIDENCE or lang in ("zxx", "und"):
        return None
    return lang


def page_text(title: str | None, description: str | None, captions: list[str]) -> str:
    parts = [p for p in (title, description) if p]
    size = sum(len(p) for p in parts)
    for c in captions:
        if size >= MAX_CHARS:
            break
        parts.append(c)
        size += len(c) + 1
    return " ".join(parts)

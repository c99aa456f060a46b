"""Prompt templates for zero-shot classification: ``{c}`` is replaced by the
class name (CLIP_benchmark's convention). A class's text embedding is the mean
of its prompts' normalised embeddings, normalised again (prompt ensembling).

``--templates`` takes a name below or a file: ``.json`` (a list of strings, or
CLIP_benchmark's ``{dataset: [templates]}`` with one entry) or text, one
template per line (CLIP_benchmark's ``zeroshot_classification_templates.txt``).
An eval folder that holds ``zeroshot_classification_templates.txt`` brings its
own templates (the mini-web's held-out set does).
"""

from __future__ import annotations

import json
import os

from grassroots.errors import InputError

TEMPLATES_FILE = "zeroshot_classification_templates.txt"

# The mini-web's scenes: class names are "red square", captions read "a red square",
# "two red squares above ...", "... on a striped background".
SCENES = (
    "a {c}",
    "a {c} on a plain background",
    "a {c} on a striped background",
    "a {c} on a dotted background",
    "a {c} on a grid background",
    "two {c}s",
    "three {c}s",
    "four {c}s",
)
PHOTO = ("a photo of a {c}.",)


def _openai() -> tuple[str, ...]:
    """OpenAI's 80 ImageNet templates, as open_clip ships them."""
    from open_clip.zero_shot_metadata import OPENAI_IMAGENET_TEMPLATES

    return tuple(t("{c}") for t in OPENAI_IMAGENET_TEMPLATES)


NAMED = {"scenes": lambda: SCENES, "photo": lambda: PHOTO, "openai": _openai}
DEFAULT = "openai"


def load_templates(spec: str) -> tuple[str, ...]:
    """The templates of a name (scenes, photo, openai) or a file."""
    if spec in NAMED:
        return NAMED[spec]()
    if not os.path.isfile(spec):
        raise InputError(spec, "is neither a template set nor a file",
                         f"use one of {', '.join(NAMED)}, or a .txt (one template per line) or .json file")
    with open(spec, encoding="utf-8") as f:
        text = f.read()
    if spec.endswith(".json"):
        try:
            doc = json.loads(text)
        except ValueError as e:
            raise InputError(spec, f"is not valid JSON: {e}") from None
        if isinstance(doc, dict) and len(doc) == 1:
            doc = next(iter(doc.values()))
        if not isinstance(doc, list) or not all(isinstance(t, str) for t in doc):
            raise InputError(spec, "expected a JSON list of template strings (or {dataset: [templates]})")
        templates = tuple(doc)
    else:
        templates = tuple(line.strip() for line in text.splitlines() if line.strip())
    return check_templates(templates, spec)


def check_templates(templates: tuple[str, ...], where: str) -> tuple[str, ...]:
    if not templates:
        raise InputError(where, "holds no templates")
    for t in templates:
        if "{c}" not in t:
            raise InputError(where, f"template {t!r} has no {{c}} for the class name", 'e.g. "a photo of a {c}."')
        try:
            t.format(c="x")
        except (KeyError, IndexError, ValueError) as e:
            raise InputError(where, f"template {t!r} cannot be filled: {e}",
                             "only {c} may appear in braces; write {{ and }} for literal braces") from None
    return templates


def default_templates(folder: str | None) -> tuple[tuple[str, ...], str]:
    """(templates, where from) when --templates is not given: the eval folder's
    own file if it has one, else OpenAI's ImageNet set."""
    if folder and os.path.isfile(os.path.join(folder, TEMPLATES_FILE)):
        path = os.path.join(folder, TEMPLATES_FILE)
        return load_templates(path), path
    return load_templates(DEFAULT), DEFAULT

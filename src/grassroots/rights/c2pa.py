"""C2PA ``c2pa.training-mining`` and CAWG ``cawg.training-mining`` assertions.

Read with c2pa-python's Reader, only when the bytes contain a JUMBF box with a
``c2pa`` label (a byte search; images without a manifest cost almost nothing).
Entries ending in ``.ai_training``, ``.ai_generative_training`` or
``.data_mining`` count; ``use`` = ``notAllowed`` or ``constrained`` refuses,
``allowed`` (all relevant entries) is allowed.

Refusals are taken from every manifest in the store (an ingredient's creator
said no); permissions only from the active manifest and only when the store
validates (validation_state other than "Invalid"). With
``require_valid=True`` an invalid store is ignored entirely. Absent or
unreadable manifests are unknown.
"""

from __future__ import annotations

import io
import json

from grassroots.rights.signals import Signal, allowed, refused, unknown
from grassroots.schema import Reason

LABELS = ("c2pa.training-mining", "cawg.training-mining")
ENTRY_SUFFIXES = (".ai_training", ".ai_generative_training", ".data_mining")
_REFUSING_USES = {"notallowed", "constrained"}


def has_manifest_marker(data: bytes) -> bool:
    return b"jumb" in data and b"c2pa" in data


def _entries(manifest: dict) -> list[tuple[str, str]]:
    """[(entry key, use)] from the training-mining assertions of one manifest."""
    out = []
    for assertion in manifest.get("assertions") or []:
        label = str(assertion.get("label", "")).split("__")[0]  # "__1": repeated instances
        if label.rsplit(".v", 1)[0] not in LABELS and label not in LABELS:
            continue
        entries = (assertion.get("data") or {}).get("entries") or {}
        for key, value in entries.items():
            if isinstance(value, dict) and str(key).endswith(ENTRY_SUFFIXES):
                out.append((str(key), str(value.get("use", ""))))
    return out


def decide_store(store: dict, require_valid: bool = False) -> Signal:
    """Decide from the manifest-store JSON that ``Reader.json()`` returns."""
    valid = store.get("validation_state") != "Invalid"
    if require_valid and not valid:
        return unknown(Reason.C2PA, "manifest invalid")
    manifests = store.get("manifests") or {}
    active = manifests.get(store.get("active_manifest"), {})
    for label, manifest in manifests.items():
        for key, use in _entries(manifest):
            if use.lower() in _REFUSING_USES:
                note = "" if valid else " (manifest invalid)"
                where = "" if manifest is active else f" in ingredient {label}"
                return refused(Reason.C2PA, f"{key}={use}{where}{note}")
    entries = _entries(active)
    if not entries:
        return unknown(Reason.C2PA, "no training-mining assertion")
    if not valid:
        return unknown(Reason.C2PA, "manifest invalid: permission ignored")
    if all(use.lower() == "allowed" for _, use in entries):
        return allowed(Reason.C2PA, ", ".join(f"{k}={u}" for k, u in entries))
    return unknown(Reason.C2PA, ", ".join(f"{k}={u}" for k, u in entries))


def c2pa_signal(data: bytes, content_type: str | None = None, require_valid: bool = False) -> Signal:
    if not has_manifest_marker(data):
        return unknown(Reason.C2PA, "no manifest")
    import c2pa  # the native library loads only for images that carry a manifest

    mime = (content_type or "").split(";")[0].strip().lower()
    try:
        reader = c2pa.Reader.try_create(mime if mime.startswith("image/") else None, io.BytesIO(data))
        if reader is None:
            return unknown(Reason.C2PA, "no manifest")
        with reader:
            store = json.loads(reader.json())
    except Exception as e:  # c2pa.C2paError and friends: unreadable is unknown, never permission
        return unknown(Reason.C2PA, f"unreadable manifest ({type(e).__name__.lstrip('_')})")
    return decide_store(store, require_valid)

"""Rights metadata inside image files: IPTC/PLUS XMP packets and C2PA manifests.

XMP ``plus:DataMining`` goes into JPEG APP1, PNG iTXt ``XML:com.adobe.xmp`` and the
WebP ``XMP `` chunk (see scenes.encode). Forms, all meaning the same value:

- attribute: ``<rdf:Description plus:DataMining="http://ns.useplus.org/ldf/vocab/DMI-..."/>``
- element:   ``<plus:DataMining>http://ns.useplus.org/ldf/vocab/DMI-...</plus:DataMining>``
- resource:  ``<plus:DataMining rdf:resource="http://ns.useplus.org/ldf/vocab/DMI-..."/>``
- bare:      ``<plus:DataMining>DMI-...</plus:DataMining>`` (no vocabulary URI)
- prefix:    the attribute form with the namespace bound to ``pl:`` instead of ``plus:``

C2PA manifests carry a ``c2pa.training-mining`` and/or ``cawg.training-mining``
assertion, signed with the throwaway chain in testcert.py (c2pa-python reads it back and
says the signer is untrusted). Signatures embed a random manifest id, so signed bytes
are cached per process: stable within one process, not across processes.
"""

from __future__ import annotations

import hashlib
import io
import json
import threading

PLUS_NS = "http://ns.useplus.org/ldf/xmp/1.0/"
VOCAB = "http://ns.useplus.org/ldf/vocab/"
RDF_NS = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"

_XMP = """<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/">
 <rdf:RDF xmlns:rdf="{rdf}">
  {body}
 </rdf:RDF>
</x:xmpmeta>
<?xpacket end="w"?>"""


def xmp_packet(value: str, form: str = "attribute") -> bytes:
    """An XMP packet whose only property is plus:DataMining = value (a DMI-* name)."""
    uri = VOCAB + value
    ns = f'xmlns:plus="{PLUS_NS}"'
    if form == "attribute":
        body = f'<rdf:Description rdf:about="" {ns} plus:DataMining="{uri}"/>'
    elif form == "prefix":
        body = f'<rdf:Description rdf:about="" xmlns:pl="{PLUS_NS}" pl:DataMining="{uri}"/>'
    elif form == "element":
        body = f'<rdf:Description rdf:about="" {ns}><plus:DataMining>{uri}</plus:DataMining></rdf:Description>'
    elif form == "resource":
        body = f'<rdf:Description rdf:about="" {ns}><plus:DataMining rdf:resource="{uri}"/></rdf:Description>'
    elif form == "bare":
        body = f'<rdf:Description rdf:about="" {ns}><plus:DataMining>{value}</plus:DataMining></rdf:Description>'
    else:
        raise ValueError(f"unknown XMP form {form!r}")
    return _XMP.format(rdf=RDF_NS, body=body).encode("utf-8")


def c2pa_manifest(entries: tuple[tuple[str, str], ...], title: str) -> dict:
    """Manifest definition with training-mining assertions grouped by label prefix."""
    assertions: list[dict] = [
        {
            "label": "c2pa.actions",
            "data": {
                "actions": [
                    {
                        "action": "c2pa.created",
                        "digitalSourceType": "http://cv.iptc.org/newscodes/digitalsourcetype/algorithmicMedia",
                    }
                ]
            },
        }
    ]
    for prefix in ("c2pa", "cawg"):
        mine = {e: {"use": u} for e, u in entries if e.startswith(prefix + ".")}
        for e, u in entries:
            if e.startswith(prefix + ".") and u == "constrained":
                mine[e]["constraint_info"] = "https://policy.example/licensing"
        if mine:
            assertions.append({"label": f"{prefix}.training-mining", "data": {"entries": mine}})
    return {
        "claim_generator_info": [{"name": "grassroots-miniweb", "version": "0.1"}],
        "title": title,
        "assertions": assertions,
    }


_lock = threading.Lock()
_signed: dict[str, bytes] = {}
_signer = None


def _get_signer():
    global _signer
    if _signer is None:
        import c2pa

        from .testcert import CHAIN_PEM, KEY_PEM

        _signer = c2pa.Signer.from_info(c2pa.C2paSignerInfo(b"es256", CHAIN_PEM, KEY_PEM, None))
    return _signer


def c2pa_sign(data: bytes, mime: str, entries: tuple[tuple[str, str], ...], title: str = "image") -> bytes:
    """Return ``data`` with an embedded, signed C2PA manifest (cached per process)."""
    import c2pa

    manifest = c2pa_manifest(entries, title)
    key = hashlib.sha256(data + mime.encode() + json.dumps(manifest, sort_keys=True).encode()).hexdigest()
    with _lock:  # c2pa objects are not shared across threads
        if key not in _signed:
            out = io.BytesIO()
            with c2pa.Builder(manifest) as builder:
                builder.sign(_get_signer(), mime, io.BytesIO(data), out)
            _signed[key] = out.getvalue()
        return _signed[key]


def read_training_mining(data: bytes, mime: str) -> dict[str, dict]:
    """Training-mining assertions of the active manifest, by label (for tests)."""
    import c2pa

    with c2pa.Reader(mime, io.BytesIO(data)) as reader:
        store = json.loads(reader.json())
    manifest = store["manifests"][store["active_manifest"]]
    return {a["label"]: a["data"] for a in manifest["assertions"] if a["label"].endswith("training-mining")}

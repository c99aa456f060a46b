"""C2PA / CAWG training-mining assertions, signed here with a throwaway ES256 chain."""

from __future__ import annotations

import datetime
import io

import c2pa
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from PIL import Image

from grassroots.rights.c2pa import c2pa_signal, decide_store, has_manifest_marker
from grassroots.rights.signals import Outcome
from grassroots.schema import Reason


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn), x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Grassroots tests")])


def _usage(**on) -> x509.KeyUsage:
    names = ["digital_signature", "content_commitment", "key_encipherment", "data_encipherment",
             "key_agreement", "key_cert_sign", "crl_sign", "encipher_only", "decipher_only"]
    return x509.KeyUsage(**{n: on.get(n, False) for n in names})


@pytest.fixture(scope="module")
def signer():
    """Self-signed CA → end-entity ES256 (P-256) cert with emailProtection EKU."""
    now = datetime.datetime.now(datetime.timezone.utc)
    valid = dict(not_valid_before=now - datetime.timedelta(days=1), not_valid_after=now + datetime.timedelta(days=7))
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())

    def build(subject, issuer, public_key, **kw):
        b = x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(public_key)
        b = b.serial_number(x509.random_serial_number()).not_valid_before(valid["not_valid_before"])
        return b.not_valid_after(valid["not_valid_after"])

    ca = (build(_name("Test CA"), _name("Test CA"), ca_key.public_key())
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(_usage(key_cert_sign=True, crl_sign=True), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    leaf = (build(_name("Test signer"), ca.subject, key.public_key())
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_usage(digital_signature=True), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    chain = leaf.public_bytes(pem) + ca.public_bytes(pem)
    private = key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return c2pa.Signer.from_info(c2pa.C2paSignerInfo(c2pa.C2paSigningAlg.ES256, chain, private, None))


def sign(signer, entries: dict | None, label: str = "c2pa.training-mining", fmt: str = "JPEG") -> bytes:
    assertions = [{"label": "c2pa.actions", "data": {"actions": [
        {"action": "c2pa.created", "digitalSourceType": "http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture"}]}}]
    if entries is not None:
        assertions.append({"label": label, "data": {"entries": entries}})
    manifest = {"claim_generator_info": [{"name": "grassroots-tests", "version": "0"}], "title": "t",
                "assertions": assertions}
    src = io.BytesIO()
    Image.new("RGB", (16, 16), "red").save(src, fmt)
    src.seek(0)
    out = io.BytesIO()
    with c2pa.Builder(manifest) as builder:
        builder.sign(signer, f"image/{fmt.lower()}", src, out)
    return out.getvalue()


def use(value: str, prefix: str = "c2pa") -> dict:
    return {f"{prefix}.ai_training": {"use": value}, f"{prefix}.ai_generative_training": {"use": value},
            f"{prefix}.data_mining": {"use": value}}


def test_allowed(signer):
    s = c2pa_signal(sign(signer, use("allowed")), "image/jpeg")
    assert s.outcome is Outcome.ALLOWED


def test_not_allowed(signer):
    s = c2pa_signal(sign(signer, {"c2pa.ai_training": {"use": "notAllowed"}}), "image/jpeg")
    assert s.refused and s.reason is Reason.C2PA and s.detail.startswith("c2pa.ai_training=notAllowed")


def test_constrained_counts_as_not_allowed(signer):
    entries = {"c2pa.ai_generative_training": {"use": "constrained", "constraint_info": "ask"},
               "c2pa.ai_training": {"use": "allowed"}}
    s = c2pa_signal(sign(signer, entries, fmt="PNG"), "image/png")
    assert s.refused and "constrained" in s.detail


def test_cawg_assertion(signer):
    s = c2pa_signal(sign(signer, use("notAllowed", "cawg"), label="cawg.training-mining", fmt="WEBP"), None)
    assert s.refused and s.detail.startswith("cawg.")


def test_manifest_without_training_mining_is_unknown(signer):
    assert c2pa_signal(sign(signer, None), "image/jpeg").outcome is Outcome.UNKNOWN


def test_no_manifest_skips_the_reader(monkeypatch):
    b = io.BytesIO()
    Image.new("RGB", (16, 16)).save(b, "JPEG")
    assert not has_manifest_marker(b.getvalue())

    def boom(*a, **k):
        raise AssertionError("Reader called for an image without a manifest")

    monkeypatch.setattr(c2pa.Reader, "try_create", boom)
    s = c2pa_signal(b.getvalue(), "image/jpeg")
    assert s.outcome is Outcome.UNKNOWN and s.detail == "no manifest"


def test_garbage_with_marker_is_unknown():
    assert c2pa_signal(b"jumb c2pa garbage" * 10, "image/jpeg").outcome is Outcome.UNKNOWN


def _tamper(data: bytes) -> bytes:
    t = bytearray(data)
    t[-20] ^= 0xFF  # image data after the manifest: hash mismatch
    return bytes(t)


def test_invalid_manifest_permission_ignored(signer):
    s = c2pa_signal(_tamper(sign(signer, use("allowed"))), "image/jpeg")
    assert s.outcome is Outcome.UNKNOWN and "invalid" in s.detail


def test_invalid_manifest_refusal_still_counts_unless_required_valid(signer):
    tampered = _tamper(sign(signer, use("notAllowed")))
    s = c2pa_signal(tampered, "image/jpeg")
    assert s.refused and "invalid" in s.detail
    assert c2pa_signal(tampered, "image/jpeg", require_valid=True).outcome is Outcome.UNKNOWN


def test_ingredient_refusal_counts_but_ingredient_permission_does_not():
    store = {
        "active_manifest": "a",
        "manifests": {
            "a": {"assertions": []},
            "b": {"assertions": [{"label": "c2pa.training-mining",
                                  "data": {"entries": {"c2pa.ai_training": {"use": "notAllowed"}}}}]},
        },
    }
    s = decide_store(store)
    assert s.refused and "ingredient b" in s.detail
    store["manifests"]["b"]["assertions"][0]["data"]["entries"]["c2pa.ai_training"]["use"] = "allowed"
    assert decide_store(store).outcome is Outcome.UNKNOWN

"""grassroots takedown, tested as an adversary would: after a takedown no byte of a removed
image (nor its caption or embedding) is in any file of the new release, no search of it by
embedding or by PDQ finds it, its URL and hashes are in the dataset's registry and
blocklist, the accounting invariant holds, and --purge-parent deletes the parent."""

from __future__ import annotations

import hashlib
import io as _io
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from PIL import Image
from typer.testing import CliRunner

from grassroots.cli import app
from grassroots.embeddings import embedded_shards, read_embeddings
from grassroots.errors import InputError
from grassroots.imaging.hashes import pdq
from grassroots.layout import DatasetDir
from grassroots.ledger import kept_rows, read_samples
from grassroots.rights.blocklist import Blocklist, pdq_words
from grassroots.rights.registry import Registry
from grassroots.index import load_index
from grassroots.runner import LocalRunner, run_step
from grassroots.samples import read_sample_files
from grassroots.stages import Index
from grassroots.releases import make_release, make_takedown, remove_tree
from grassroots.samples import stored_keys
from grassroots.takedown.requests import append_request, build_ask, new_request, read_requests
from tests.conftest import assert_accounted
from tests.stages.test_score_select import jpeg
from tests.takedown.dataset import MODEL, build, url_of

EXPECTED = {"000000001": "keys", "000000002": "urls", "000000003": "domains", "000010001": "domains",
            "000010005": "domains", "000010002": "pdq", "000000004": "sha256",
            "000010006": "pdq"}  # a resized copy of 000000002 (taken down by URL) at another URL


def write_requests(ds: str) -> None:
    layout = DatasetDir(ds)
    Path(layout.takedowns_dir).mkdir(parents=True, exist_ok=True)
    shouted = url_of(0, 2).replace("https://pics.example.com", "http://PICS.Example.COM:80")
    reqs = [
        {"id": "r-1", "time": "2025-08-01T10:00:00Z", "name": "A. Artist", "contact": "artist@example.org",
         "remove": {"urls": [shouted]}, "reason": "opt-out"},
        {"id": "r-2", "time": "2025-08-02T10:00:00+02:00", "name": None, "contact": None,
         "remove": {"domains": ["blog.example.de"]}, "reason": "copyright"},
        {"id": "r-3", "time": "2025-08-03T10:00:00Z", "name": "B", "contact": "b@example.org",
         "remove": {"urls": ["https://nowhere.example.org/none.jpg"]}, "reason": "privacy"},
    ]
    Path(layout.takedown_requests).write_text("".join(json.dumps(r) + "\n" for r in reqs))


def files_under(path: str) -> list[Path]:
    return [p for p in Path(path).rglob("*") if p.is_file()]


def vectors_of(release: DatasetDir) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    out = {}
    for s in embedded_shards(release, MODEL):
        keys, img, txt = read_embeddings(release, MODEL, s)
        out.update({k: (np.array(img[i]), np.array(txt[i])) for i, k in enumerate(keys)})
    return out


def needles_of(images: dict[str, bytes], vectors: dict) -> dict[str, list[bytes]]:
    """What a byte scan looks for, per removed key: pieces of the entropy-coded image data
    (headers and tables are shared by every JPEG of a quality), its vectors, its caption."""
    out = {}
    for key in EXPECTED:
        data = images[key]
        out[key] = [data[len(data) // 2:len(data) // 2 + 48], data[-80:-2], *(v.tobytes() for v in vectors[key]),
                    f"a secret caption {int(key[:5])}-{int(key[5:])}".encode()]
    return out


def found(root: str, needles: dict[str, list[bytes]]) -> dict[str, set[str]]:
    """Removed key -> the files under ``root`` that hold a piece of it."""
    hits: dict[str, set[str]] = {}
    for path in files_under(root):
        blob = path.read_bytes()
        for k, ns in needles.items():
            if any(n in blob for n in ns):
                hits.setdefault(k, set()).add(str(path.relative_to(root)))
    return hits


@dataclass
class Taken:
    ds: str
    images: dict[str, bytes]
    res: object
    root: Path
    v1_kept: set[str]  # before the takedown
    vectors: dict  # v1's vectors, before the takedown
    found_before: dict[str, set[str]]

    @property
    def backup(self) -> Path:
        return self.root / "backup-v1"  # v1 as copied before the takedown

    def __iter__(self):
        return iter((self.ds, self.images, self.res, self.root))


@pytest.fixture(scope="module")
def taken(tmp_path_factory):
    root = tmp_path_factory.mktemp("takedown")
    ds = str(root / "ds")
    images = build(ds)
    layout = DatasetDir(ds)
    v1 = layout.release("v1")
    run_step(Index(MODEL, exact_max=4), v1.root, LocalRunner(processes=1), progress=False)  # an IVF index
    write_requests(ds)
    (root / "keys.txt").write_text("# one key\n000000001\n")
    copy = Image.open(_io.BytesIO(images["000010002"])).convert("RGB").resize((100, 100))
    h, q = pdq(Image.open(_io.BytesIO(jpeg(copy, quality=55))).convert("RGB"))  # re-encoded, resized copy
    (root / "pdq.txt").write_text(f"{h},{q}\n")
    stored = read_sample_files(v1, 0, keys={"000000004"})["000000004"]["jpg"]  # as the search page serves it
    (root / "sha.txt").write_text(hashlib.sha256(stored).hexdigest() + "\n")
    ask = build_ask(layout.takedown_requests, {"keys": [root / "keys.txt"], "pdq": [root / "pdq.txt"],
                                               "sha256": [root / "sha.txt"]})
    v1_kept = {r["key"] for r in read_samples(v1.root) if r["status"] == "success"}
    vectors = vectors_of(v1)
    before = found(ds, needles_of(images, vectors))
    shutil.copytree(v1.root, root / "backup-v1")
    res = make_takedown(ds, "v1", "v2", ask, LocalRunner(processes=1), progress=False)
    return Taken(ds, images, res, root, v1_kept, vectors, before)


def test_the_asked_samples_and_only_they_are_removed_and_accounted(taken):
    ds, images, res, _ = taken
    v2 = DatasetDir(ds).release("v2")
    assert res.record is not None and res.totals.failed_shards == 0
    rows = {r["key"]: r for r in read_samples(v2.root)}
    removed = {k for k, r in rows.items() if r["reason"] == "takedown"}
    assert removed == set(EXPECTED)
    assert all(rows[k]["status"] == "refused" and rows[k]["caption"] is None for k in removed)
    for key, kind in EXPECTED.items():
        assert rows[key]["error_message"].startswith(f"takedown: {kind} "), rows[key]["error_message"]
    assert "distance" in rows["000010002"]["error_message"] and "file:" in rows["000010002"]["error_message"]
    assert "request:r-2" in rows["000010005"]["error_message"]
    v1_kept = taken.v1_kept
    assert set(rows) == v1_kept and {k for k, r in rows.items() if r["status"] == "success"} == v1_kept - removed
    assert_accounted(v2.root)
    rec = json.loads(Path(v2.takedown_record).read_text())
    assert rec["counts"] == {"candidates": len(v1_kept), "kept": len(v1_kept) - 8, "removed": 8, "illegal_content": 0}
    assert {r["id"]: r["matched"] for r in rec["requests"]} == {"r-1": 2, "r-2": 3, "r-3": 0}
    assert rec["matched_by"] == {"keys": 1, "urls": 1, "domains": 3, "sha256": 1, "md5": 0, "pdq": 2}
    assert "copy-of:000000002" in rows["000010006"]["error_message"]
    assert rec["asked"]["pdq"] == [Path(taken.root, "pdq.txt").read_text().split(",")[0]]  # as asked, no copies
    assert "artist@example.org" not in json.dumps(rec) and "A. Artist" not in json.dumps(rec)
    assert Path(v2.takedown_removed).read_text().split() == sorted(EXPECTED)
    manifest = json.loads(Path(v2.manifest).read_text())
    assert manifest["release"]["removed"] == 8 and manifest["release"]["parent"].endswith("releases/v1")


def test_no_byte_of_a_removed_image_caption_or_embedding_is_in_any_file_under_the_dataset(taken):
    """Not only the new release: the dataset's shards, embeddings and attributes, the parent
    release and its index, scratch files: the same scan found them everywhere before."""
    ds, images, _, _ = taken
    layout = DatasetDir(ds)
    before = taken.found_before
    assert set(before) == set(EXPECTED)  # the scan finds them where they are
    for where in ("shards/00000.tar", "releases/v1/shards/00000.tar", "releases/v1/index/"):
        assert any(f.startswith(where) for fs in before.values() for f in fs), where
    assert found(ds, needles_of(images, taken.vectors)) == {}
    kept_key = next(k for k in images if k not in EXPECTED and k.startswith("00000"))
    for tar in (layout.shard_tar(0), layout.release("v1").shard_tar(0), layout.release("v2").shard_tar(0)):
        assert images[kept_key][len(images[kept_key]) // 2:][:48] in Path(tar).read_bytes()


def test_the_dataset_and_every_release_are_purged_and_still_accounted(taken):
    ds, *_ = taken
    layout = DatasetDir(ds)
    rec = json.loads(Path(layout.release("v2").takedown_record).read_text())
    assert {p["dir"]: p["removed"] for p in rec["purged"]} == {"dataset": 8, "releases/v1": 8}
    assert rec["lists_appended"]["registry"] == "takedowns/registry.txt"  # no operator path in a release
    for root in (ds, layout.release("v1").root):
        rows = {r["key"]: r for r in read_samples(root)}
        for key in EXPECTED:
            assert rows[key]["status"] == "refused" and rows[key]["reason"] == "takedown", (root, key)
            assert rows[key]["caption"] is None and rows[key]["url"] == url_of(int(key[:5]), int(key[5:]))
        assert_accounted(root)
        manifest = json.loads(Path(DatasetDir(root).manifest).read_text())
        assert manifest["purged"][-1]["by_takedown"] == "v2" and manifest["purged"][-1]["removed"] == 8
    removed = Path(layout.takedown_removed_all).read_text().splitlines()
    assert removed[0] == "key,release,reason" and sorted(removed[1:]) == sorted(f"{k},v2," for k in EXPECTED)


def test_a_release_selected_from_the_base_after_the_takedown_brings_nothing_back(taken):
    ds, *_ = taken
    layout = DatasetDir(ds)
    target, totals = make_release(ds, "v5", "clip >= -1", LocalRunner(processes=1), progress=False)
    rows = {r["key"]: r for r in read_samples(target)}
    assert not {k for k, r in rows.items() if r["status"] == "success"} & set(EXPECTED)
    assert not set(EXPECTED) & (stored_keys(DatasetDir(target), 0) | stored_keys(DatasetDir(target), 1))
    assert_accounted(target)
    remove_tree(target)


def test_a_copy_made_before_the_takedown_and_put_back_is_skipped_by_every_step(taken):
    """A release restored from a backup still holds the samples: select refuses them
    (refused/takedown rows), the steps that read samples never see them, index leaves them out."""
    ds, *_ = taken
    layout = DatasetDir(ds)
    restored = layout.release("v8")
    shutil.copytree(taken.backup, restored.root)
    assert {r["key"] for r in read_samples(restored.root) if r["status"] == "success"} >= set(EXPECTED)
    assert not set(EXPECTED) & set(kept_rows(restored, 0, ["key"]).column("key").to_pylist()
                                   + kept_rows(restored, 1, ["key"]).column("key").to_pylist())
    target, _ = make_release(ds, "v9", "clip >= -1", LocalRunner(processes=1), parent_release="v8", progress=False)
    rows = {r["key"]: r for r in read_samples(target)}
    assert all(rows[k]["status"] == "refused" and rows[k]["reason"] == "takedown" and rows[k]["caption"] is None
               for k in EXPECTED)
    assert not set(EXPECTED) & (stored_keys(DatasetDir(target), 0) | stored_keys(DatasetDir(target), 1))
    assert_accounted(target)
    run_step(Index(MODEL), restored.root, LocalRunner(processes=1), progress=False)
    assert not set(EXPECTED) & set(load_index(restored.root).items.column("key").to_pylist())
    remove_tree(target)
    remove_tree(restored.root)


def test_no_search_of_a_removed_sample_finds_it(taken):
    """By embedding (the index's job: brute force over the release's vectors and key map)
    and by PDQ of the image (re-encoded copies too) within the blocklist's distance."""
    ds, images, res, _ = taken
    layout = DatasetDir(ds)
    v1, v2 = layout.release("v1"), layout.release("v2")
    keys, img = [], []
    for s in embedded_shards(v2, MODEL):
        k, i, _ = read_embeddings(v2, MODEL, s)
        keys += k
        img.append(np.asarray(i, np.float32))
    matrix = np.concatenate(img)
    assert not set(keys) & set(EXPECTED)
    for key in EXPECTED:
        vec = np.asarray(taken.vectors[key][0], np.float32)
        top = np.argsort(-(matrix @ vec))[:5]
        assert not {keys[t] for t in top} & set(EXPECTED)
    # The parent's index holds removed keys: it is never copied; vN+1's is built again from
    # vN+1's embeddings with the parent's settings, and no query of it returns a removed key.
    assert res.record.index == f"rebuilt: {MODEL} (ivf, {len(keys)} images)"
    # vN+1's index is built from vN+1's embeddings with the parent's settings; the parent's
    # own index is built again without them (the purge).
    old_index, new_index = load_index(v1.root), load_index(v2.root)
    assert not set(EXPECTED) & set(old_index.items.column("key").to_pylist())
    assert sorted(new_index.items.column("key").to_pylist()) == sorted(keys)
    assert json.loads(Path(v2.index_dir, MODEL, "index.json").read_text())["exact_max"] == 4
    for key in EXPECTED:
        vec, txt = (np.asarray(v, np.float32) for v in taken.vectors[key])
        for index in (old_index, new_index):
            for over, query in (("img", vec), ("txt", txt)):
                hits = index.search(query, k=index.count, over=over, safe=False, dedup=False)
                assert hits and not {h.key for h in hits} & set(EXPECTED), (key, over)
    kept = [r for r in read_samples(v2.root) if r["status"] == "success"]
    stored = {k: f["jpg"] for s in (0, 1) for k, f in read_sample_files(v2, s).items()}
    for key in EXPECTED:
        for probe in (images[key], jpeg(Image.open(_io.BytesIO(images[key])).convert("RGB").resize((90, 90)), 50)):
            h, _ = pdq(Image.open(_io.BytesIO(probe)).convert("RGB"))
            near = [r["key"] for r in kept if np.bitwise_count(pdq_words(r["pdq"]) ^ pdq_words(h)).sum() <= 31]
            near += [k for k, d in stored.items()
                     if np.bitwise_count(pdq_words(pdq(Image.open(_io.BytesIO(d)).convert("RGB"))[0])
                                         ^ pdq_words(h)).sum() <= 31]
            assert near == [], (key, near)


def test_the_dataset_registry_and_blocklist_now_refuse_the_removed_samples(taken):
    ds, images, _, _ = taken
    layout = DatasetDir(ds)
    registry = Registry.load([layout.takedown_registry])
    blocklist = Blocklist.load([layout.takedown_blocklist])
    for key in EXPECTED:
        s, r = int(key[:5]), int(key[5:])
        assert registry.match(url_of(s, r)), key
        assert blocklist.check_bytes(images[key]), key
    assert registry.match("https://sub.blog.example.de/new.jpg")  # the asked domain, for new URLs too
    assert registry.match("https://nowhere.example.org/none.jpg")  # asked, though nothing matched
    copy = jpeg(Image.open(_io.BytesIO(images["000010002"])).convert("RGB").resize((110, 110)), 40)
    h, q = pdq(Image.open(_io.BytesIO(copy)).convert("RGB"))
    assert blocklist.check_pdq(h, q)
    assert not registry.match(url_of(0, 0)) and not blocklist.check_bytes(images["000000000"])


def test_rerun_resumes_and_a_second_takedown_appends_without_duplicates(taken, tmp_path):
    ds, images, res, root = taken
    layout = DatasetDir(ds)
    before = Path(layout.takedown_registry).read_text()
    ask = build_ask(layout.takedown_requests, {"keys": [root / "keys.txt"], "pdq": [root / "pdq.txt"],
                                               "sha256": [root / "sha.txt"]})
    again = make_takedown(ds, "v1", "v2", ask, LocalRunner(processes=1), progress=False)
    assert again.totals.skipped_shards == 2 and again.record.counts == res.record.counts
    assert Path(layout.takedown_registry).read_text() == before  # nothing new to append
    (tmp_path / "more.txt").write_text("000000000\n")
    third = make_takedown(ds, "v2", "v3", build_ask(None, {"keys": [tmp_path / "more.txt"]}),
                          LocalRunner(processes=1), progress=False)
    assert third.record.counts.removed == 1 and third.record.requests == ()
    assert_accounted(layout.release("v3").root)
    assert Registry.load([layout.takedown_registry]).match(url_of(0, 0))


def test_purge_parent_deletes_the_parent_only_after_the_new_release_is_complete(taken, tmp_path):
    ds, *_ = taken
    layout = DatasetDir(ds)
    (tmp_path / "k.txt").write_text("000000005\n")
    res = CliRunner().invoke(app, ["takedown", ds, "--from", "v3", "--release", "v4", "--keys",
                                   str(tmp_path / "k.txt"), "--purge-parent", "--processes", "1"])
    assert res.exit_code == 0, res.output
    assert "removed 1 samples" in res.output
    assert not Path(layout.release("v3").root).exists()
    assert not list(Path(layout.releases_dir).glob(".v3.purged-*"))
    assert_accounted(layout.release("v4").root)
    assert json.loads(Path(layout.release("v4").takedown_record).read_text())["parent_purged"] is True


def test_bad_requests_and_lists_are_one_line_errors_and_nothing_is_written(taken, tmp_path):
    ds, *_ = taken
    layout = DatasetDir(ds)
    bad = tmp_path / "requests.jsonl"
    good = {"id": "x", "time": "2025-08-01T10:00:00Z", "name": "n", "contact": "c",
            "remove": {"keys": ["000000001"]}, "reason": "opt-out"}
    for broken, says in ((dict(good, reason="because"), "'reason' must be one of"),
                         (dict(good, time="yesterday"), "'time' must be ISO 8601"),
                         (dict(good, remove={"images": ["x"]}), "unknown fields ['images']"),
                         (dict(good, remove={"urls": []}), "names nothing to remove"),
                         (dict(good, remove={"sha256": ["abc"]}), "sha256 needs 64 hex digits"),
                         (dict(good, received_at="2025-08-01T10:00:00Z"), "unknown fields ['received_at']"),
                         (dict(good, name="n" * 201), "'name' must be a string of at most 200"),
                         (dict(good, remove={"keys": ["1"] * 1001}), "at most 1000")):
        bad.write_text(json.dumps(good) + "\n" + json.dumps(broken) + "\n")
        with pytest.raises(InputError) as e:
            build_ask(str(bad), {})
        assert "row 2" in str(e.value) and says in str(e.value), str(e.value)
    (tmp_path / "u.txt").write_text("https://ok.example/a.jpg\nnot a url\n")
    res = CliRunner().invoke(app, ["takedown", ds, "--from", "v1", "--release", "v9", "--urls",
                                   str(tmp_path / "u.txt")])
    assert res.exit_code == 2 and "u.txt, row 2: not an absolute http(s) URL" in " ".join(res.output.split())
    assert "Traceback" not in res.output and not Path(layout.release("v9").root).exists()
    res = CliRunner().invoke(app, ["takedown", ds, "--from", "v1", "--release", "v9"])
    assert res.exit_code == 2 and "nothing to remove" in res.output


def test_a_new_request_is_a_valid_line_of_the_queue_in_normal_form(tmp_path):
    req = new_request("privacy", {"urls": ["HTTP://Example.ORG:80/a.jpg"], "pdq": ["AB" * 32], "keys": ["7", "7"]},
                      name=" A ", contact=None, details="", release="v3")
    assert req.id.startswith("r-") and req.time.endswith("Z")
    assert req.to_dict() == {"id": req.id, "time": req.time, "release": "v3", "name": "A", "contact": None,
                             "reason": "privacy", "details": None,
                             "remove": {"keys": ["7"], "urls": ["http://example.org/a.jpg"], "domains": [],
                                        "sha256": [], "md5": [], "pdq": ["ab" * 32]}}
    path = str(tmp_path / "takedowns" / "requests.jsonl")
    append_request(path, req)
    append_request(path, new_request("other", {"domains": ["example.net"]}))
    assert [r.to_dict() for r in read_requests(path)][0] == req.to_dict()
    assert build_ask(path, {}).to_dict()["domains"] == ["example.net"]
    with pytest.raises(ValueError, match="'remove' names nothing to remove"):
        new_request("opt-out", {"keys": []})


def test_a_hash_list_in_its_exchange_format_takes_down_what_it_lists(tmp_path):
    """A CSV hash list as lists of illegal content come (a header, a type column, SHA-256 and
    PDQ rows, other columns read past) applied to an existing dataset; a list of SHA-1 only
    (the ledger records none) is one clear error, nothing written."""
    ds = str(tmp_path / "ds")
    images = build(ds)
    rows = {r["key"]: r for r in read_samples(ds)}
    listed = tmp_path / "list.csv"
    listed.write_text("signal_type,signal_value,notes\n"
                      f"SHA-256,{hashlib.sha256(images['000000005']).hexdigest().upper()},from a partner\n"
                      f"PDQ,{rows['000010003']['pdq']},copy\n")
    res = CliRunner().invoke(app, ["takedown", ds, "--from", "v1", "--release", "v2", "--hash-list", str(listed),
                                   "--reason", "illegal-content", "--processes", "1"])
    assert res.exit_code == 0, res.output
    v2 = {r["key"]: r for r in read_samples(DatasetDir(ds).release("v2").root)}
    gone = {k for k, r in v2.items() if r["reason"] == "takedown"}
    assert {"000000005", "000010003"} <= gone and all(v2[k]["url"] == "" for k in gone)
    sha1 = tmp_path / "sha1.txt"
    sha1.write_text(hashlib.sha1(images["000000000"]).hexdigest() + "\n")
    res = CliRunner().invoke(app, ["takedown", ds, "--from", "v2", "--release", "v3", "--hash-list", str(sha1)])
    assert res.exit_code == 2 and "holds no md5, sha256 or PDQ hash" in " ".join(res.output.split())
    assert not Path(DatasetDir(ds).release("v3").root).exists()

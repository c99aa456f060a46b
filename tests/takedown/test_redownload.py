"""After a takedown, downloading the original URL list again refuses the removed rows:
by URL before any request, and a copy of a removed image at another URL by its bytes."""

from __future__ import annotations

import json
from pathlib import Path

from aiohttp import web
from typer.testing import CliRunner

from grassroots.cli import app
from grassroots.layout import DatasetDir
from grassroots.ledger import read_samples
from grassroots.samples import read_sample_files
from tests.conftest import assert_accounted
from tests.fetch.conftest import jpeg, server  # noqa: F401  (the counting loopback server fixture)
from tests.stages.test_download import serve_images, write_list


def cli(*args: str):
    res = CliRunner().invoke(app, [*args])
    assert res.exit_code == 0, res.output
    return res


def test_redownloading_the_original_list_refuses_what_was_taken_down(tmp_path, server):  # noqa: F811
    serve_images(server, 6)

    async def copy_of_2(request):  # the same bytes as /img/2.jpg, at a URL nobody asked about
        return web.Response(body=jpeg(102, 82, (10, 60, 90)), content_type="image/jpeg")

    server.routes["/mirror/two.jpg"] = copy_of_2
    src = write_list(tmp_path / "urls.jsonl", server, 6)
    ds = str(tmp_path / "ds")
    cli("download", str(src), "-o", ds, "--allow-loopback", "--processes", "1")
    cli("hash", ds, "--processes", "1")
    cli("select", ds, "--release", "v1", "--where", "phash IS NOT NULL", "--processes", "1")
    (tmp_path / "urls.txt").write_text(server.url("/img/1.jpg") + "\n")
    sha = next(r["sha256"] for r in read_samples(ds) if r["url"].endswith("/img/2.jpg"))
    (tmp_path / "sha.txt").write_text(sha + "\n")
    res = cli("takedown", ds, "--from", "v1", "--release", "v2", "--urls", str(tmp_path / "urls.txt"),
              "--sha256", str(tmp_path / "sha.txt"), "--processes", "1")
    assert "removed 2 samples" in res.output
    assert_accounted(DatasetDir(ds).release("v2").root)

    layout = DatasetDir(ds)
    again = tmp_path / "again.jsonl"
    again.write_text(src.read_text() + json.dumps({"url": server.url("/mirror/two.jpg"), "caption": "copy"}) + "\n")
    server.hits.clear()
    cli("download", str(again), "-o", str(tmp_path / "ds2"), "--allow-loopback", "--processes", "1",
        "--registry", layout.takedown_registry, "--blocklist", layout.takedown_blocklist)
    rows = {r["url"].rsplit("/", 2)[-2] + "/" + r["url"].rsplit("/", 1)[-1]: r for r in read_samples(str(tmp_path / "ds2"))}
    assert (rows["img/1.jpg"]["status"], rows["img/1.jpg"]["reason"]) == ("refused", "registry")
    assert (rows["img/2.jpg"]["status"], rows["img/2.jpg"]["reason"]) == ("refused", "registry")
    assert (rows["mirror/two.jpg"]["status"], rows["mirror/two.jpg"]["reason"]) == ("refused", "hash_blocklist")
    assert "/img/1.jpg" not in server.hits and "/img/2.jpg" not in server.hits  # refused before any request
    assert all(rows[f"img/{i}.jpg"]["status"] == "success" for i in (0, 3, 4, 5))
    assert_accounted(tmp_path / "ds2")

    # A download into the dataset itself picks its takedown lists up without being told.
    res = cli("download", str(src), "-o", ds, "--allow-loopback", "--processes", "1", "--retry-failed")
    assert "refusing what takedowns removed" in res.output
    runs = json.loads(Path(layout.manifest).read_text())["runs"]
    rights = runs[-1]["config"]["rights"]["config"]
    assert layout.takedown_registry in rights["registry_paths"] and layout.takedown_blocklist in rights["blocklist_paths"]

    # The card of the takedown release states the real crawler, its politeness and collection period.
    cli("card", ds, "--release", "v2")
    eu = Path(layout.release("v2").card_dir, "EU_PUBLIC_SUMMARY.md").read_text()
    first_run = [r for r in read_samples(ds) if r["fetched_at"]]
    assert "Crawler: `GrassrootsBot/" in eu and "host_concurrency=8" in eu
    assert f"{min(r['fetched_at'] for r in first_run).date()} to" in eu
    assert "Takedown requests received: 0" in eu and "samples removed by takedowns in\nthis release's line: 2" in eu


def test_illegal_content_leaves_nothing_but_hashes_and_is_still_refused(tmp_path, server):  # noqa: F811
    """--reason illegal-content: the image, caption and URL are gone from every file under the
    dataset (the audit keeps key and hashes); the URL is refused by its hash before any request."""
    serve_images(server, 6)
    src = write_list(tmp_path / "urls.jsonl", server, 6)
    ds = str(tmp_path / "ds")
    layout = DatasetDir(ds)
    cli("download", str(src), "-o", ds, "--allow-loopback", "--processes", "1")
    cli("hash", ds, "--processes", "1")
    cli("select", ds, "--release", "v1", "--where", "phash IS NOT NULL", "--processes", "1")
    bad_url = server.url("/img/3.jpg")
    row = next(r for r in read_samples(ds) if r["url"] == bad_url)
    image = next(iter(read_sample_files(layout, 0, keys={row["key"]}).values()))["jpg"]
    needles = [bad_url.encode(), bad_url.split("://", 1)[1].encode(), row["caption"].encode(),
               image]  # whole: a flat-colour JPEG's middle repeats in its neighbours

    def holders() -> list[str]:
        return sorted(str(p.relative_to(ds)) for p in Path(ds).rglob("*")
                      if p.is_file() and any(n in p.read_bytes() for n in needles))

    assert holders()  # the scan finds it before
    (tmp_path / "bad.txt").write_text(bad_url + "\n")
    res = cli("takedown", ds, "--from", "v1", "--release", "v2", "--urls", str(tmp_path / "bad.txt"),
              "--reason", "illegal-content", "--processes", "1")
    assert "1 removed as illegal content" in res.output and "copies already published elsewhere" in res.output
    assert holders() == [], [(f, [n[:40] for n in needles if n in Path(ds, f).read_bytes()]) for f in holders()]
    for root in (ds, layout.release("v1").root, layout.release("v2").root):
        gone = {r["key"]: r for r in read_samples(root)}[row["key"]]
        assert (gone["status"], gone["reason"], gone["url"], gone["caption"]) == ("refused", "takedown", "", None)
        assert gone["sha256"] == row["sha256"] and "illegal content" in gone["error_message"]
        assert_accounted(root)
    assert f"{row['key']},v2,illegal-content" in Path(layout.takedown_removed_all).read_text()
    cli("card", ds, "--release", "v2")
    eu = Path(layout.release("v2").card_dir, "EU_PUBLIC_SUMMARY.md").read_text()
    assert "illegal content in this release's line: 1" in " ".join(eu.split())

    server.hits.clear()
    cli("download", str(src), "-o", str(tmp_path / "ds2"), "--allow-loopback", "--processes", "1",
        "--blocklist", layout.takedown_blocklist)
    again = {r["url"]: r for r in read_samples(str(tmp_path / "ds2"))}
    assert (again[bad_url]["status"], again[bad_url]["reason"]) == ("refused", "hash_blocklist")
    assert "/img/3.jpg" not in server.hits  # refused before any request

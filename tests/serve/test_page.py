"""The search page in headless Chromium (Debian's chromium, driven by Playwright):
search by text, open a result's detail, upload an image and find it, file an
opt-out request and see it in requests.jsonl. Saves screenshots under
tests/artifacts/ (docs/search.png in the README is one of them)."""

from __future__ import annotations

import json
import os
import tarfile

import pytest

from grassroots.layout import DatasetDir
from grassroots.takedown.requests import read_requests
from tests.serve.conftest import running_server

CHROMIUM = os.environ.get("GRASSROOTS_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "artifacts")


@pytest.fixture(scope="module")
def browser():
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: the page tests need Debian's chromium "
                    "(`make test` installs it: apt-get install chromium; or set GRASSROOTS_CHROMIUM)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture(scope="module")
def site(scored_release):
    with running_server(scored_release.dataset) as base:
        yield base, scored_release


def test_search_open_find_and_opt_out_in_a_real_browser(browser, site, tmp_path):
    base, rel = site
    os.makedirs(ARTIFACTS, exist_ok=True)
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(base + "/")
    page.wait_for_function("document.querySelector('#info').textContent.includes('24 images')")

    # search by text: a grid of results with captions and source links
    page.fill("#q", "a picture number")
    page.click("#search button[type=submit]")
    page.wait_for_selector("#results .result")
    cards = page.locator("#results .result")
    assert cards.count() >= 10
    assert page.locator("#results .result .caption").first.inner_text().startswith("a picture number")
    assert page.locator("#results .result a.source").first.get_attribute("href").startswith("http://artist")
    # near-duplicates are folded, and the page says so (3 planted copies; the safety filter may hide some)
    folded = page.locator("#results .result .folded").all_inner_texts()
    assert folded and set(folded) == {"+1 near-duplicate"}
    n = len(folded)
    assert f"({n} near-duplicate{'s' if n > 1 else ''} folded)" in page.locator("#status").inner_text()
    page.screenshot(path=os.path.join(ARTIFACTS, "search.png"), full_page=False)

    # open a result: its detail with licence and rights signals
    key = cards.first.get_attribute("data-key")
    cards.first.locator("button.open").click()
    page.wait_for_selector("#detail[open]")
    assert page.locator("#detail-key").inner_text() == key
    assert "robots_txt:allowed" in page.locator("#detail-rights").inner_text()
    assert page.locator("#detail-page").get_attribute("href") == f"http://artist{int(key[:5])}.example/gallery/{key}.html"
    page.wait_for_function("document.querySelector('#detail-image').naturalWidth > 0")  # the bytes from the tar
    page.screenshot(path=os.path.join(ARTIFACTS, "detail.png"))
    page.click("#detail .close")

    # find my work: upload an image of the release, see it found by PDQ with its page
    mine = tmp_path / "mine.jpg"
    with tarfile.open(DatasetDir(rel.release).shard_tar(0)) as tar:
        mine.write_bytes(tar.extractfile("000000003.jpg").read())
    page.set_input_files("#find-file", str(mine))
    page.wait_for_selector("#find-matches .result")
    found = page.locator("#find-matches .result")
    assert found.first.get_attribute("data-key") == "000000003"
    assert "PDQ distance 0 bits (exact)" in found.first.inner_text()
    assert page.locator("#find-matches .result[data-key='000020004']").count() == 1  # its resized copy

    # opt out of everything found, then see the request in the queue
    page.click("#find-optout")
    page.fill("#optout-form [name=name]", "Playwright Artist")
    page.fill("#optout-form [name=contact]", "artist@example.org")
    page.select_option("#optout-form [name=reason]", "copyright")
    page.fill("#optout-form [name=details]", "these are my photos")
    page.click("#optout-form button[type=submit]")
    page.wait_for_selector("#optout-record")
    shown = json.loads(page.locator("#optout-record").inner_text())
    page.screenshot(path=os.path.join(ARTIFACTS, "optout.png"), full_page=True)
    filed = [r for r in read_requests(DatasetDir(rel.dataset).takedown_requests) if r.id == shown["id"]]
    assert len(filed) == 1 and filed[0].to_dict() == shown and filed[0].name == "Playwright Artist"
    assert filed[0].reason.value == "copyright" and filed[0].details == "these are my photos"
    remove = dict(filed[0].remove)
    assert {"000000003", "000020004"} <= set(remove["keys"]) and len(remove["pdq"][0]) == 64
    assert "http://x/000000003.jpg" in remove["urls"]
    assert page.locator("#optout-result .ok").inner_text().startswith(f"Request {shown['id']} received")
    assert not errors, errors

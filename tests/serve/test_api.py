"""The JSON API through a real `grassroots serve` (uvicorn on 127.0.0.1): search by
text, image, vector and key; the safety filter; samples and image bytes; find my
work; opt-out requests (appended, rate-limited); and input validation (4xx, never 5xx)."""

from __future__ import annotations

import hashlib
import json
import tarfile
import threading
import urllib.parse
import urllib.request

import pytest

from grassroots.layout import DatasetDir
from grassroots.serve.optout import RateLimiter
from grassroots.takedown.requests import append_request, build_ask, new_request, read_requests
from tests.serve.conftest import get_json, multipart, post, running_server


@pytest.fixture(scope="module")
def api(scored_release):
    with running_server(scored_release.dataset, "--optout-per-hour", "3", "--max-upload-mb", "0.5") as base:
        yield base, scored_release


def image_of(release: str, key: str) -> bytes:
    with tarfile.open(DatasetDir(release).shard_tar(int(key[:5]))) as tar:
        return tar.extractfile(f"{key}.jpg").read()


def test_text_search_returns_resolved_results_within_k(api):
    base, rel = api
    status, body = get_json(f"{base}/api/search?q=a%20picture%20number&k=5&safe=false&dedup=false")
    assert status == 200 and len(body["results"]) == 5
    r = body["results"][0]
    assert set(r) >= {"key", "score", "caption", "url", "page_url", "license", "image"}
    assert r["url"] == f"http://x/{r['key']}.jpg" and r["page_url"].endswith(f"/{r['key']}.html")
    scores = [x["score"] for x in body["results"]]
    assert scores == sorted(scores, reverse=True)


def test_safety_filter_is_on_by_default_and_hides_what_the_head_flags(api):
    base, rel = api
    _, everything = get_json(f"{base}/api/search?q=red&k=24&safe=false&dedup=false")
    _, safe = get_json(f"{base}/api/search?q=red&k=24&dedup=false")
    assert len(everything["results"]) == 24
    flagged = {r["key"] for r in everything["results"]} - {r["key"] for r in safe["results"]}
    assert flagged and len(safe["results"]) == 24 - len(flagged)
    for key in flagged:
        s = get_json(f"{base}/api/sample/{key}")[1]
        assert s["unsafe"] and s["attributes"]["nsfw"]["nsfw"] >= 0.5
    # most flagged images are the red-tinted ('unsafe'-labelled) ones
    assert sum(rel.labels[k] for k in flagged) >= 0.8 * len(flagged)


def test_results_fold_near_duplicates(api):
    base, _ = api
    _, folded = get_json(f"{base}/api/search?q=picture&k=24&safe=false")
    keys = [r["key"] for r in folded["results"]]
    clusters = [get_json(f"{base}/api/sample/{k}")[1]["attributes"]["neardup"]["neardup_cluster"] for k in keys]
    assert len(set(clusters)) == len(clusters) == 21  # 24 samples, 3 planted copies
    # the page says how many copies were folded into each result: one each for the 3 planted pairs
    assert sorted(r["folded"] for r in folded["results"]) == [0] * 18 + [1] * 3
    _, everything = get_json(f"{base}/api/search?q=picture&k=24&safe=false&dedup=false")
    assert len(everything["results"]) == 24 and all(r["folded"] == 0 for r in everything["results"])


def test_sample_detail_and_image_bytes(api):
    base, rel = api
    status, s = get_json(f"{base}/api/sample/000010001")
    assert status == 200 and s["caption"] == "a picture number 1-1"
    assert s["license"].startswith("https://creativecommons.org/") and "robots_txt:allowed:" in s["rights"]
    assert s["attributes"]["image"]["width"] == 128
    with urllib.request.urlopen(f"{base}{s['image']}") as r:
        data, ctype = r.read(), r.headers["Content-Type"]
    assert ctype == "image/jpeg" and hashlib.sha256(data).hexdigest() == s["sha256"]
    assert data == image_of(rel.release, "000010001")


@pytest.mark.parametrize("path", ["/api/sample/999999999", "/api/sample/abc", "/api/image/000000001x",
                                  "/api/similar/123", "/api/sample/" + "9" * 40, "/api/sample/%00"])
def test_unknown_keys_are_404(api, path):
    base, _ = api
    assert get_json(base + path)[0] == 404


@pytest.mark.parametrize("query", ["q=x&k=0", "q=x&k=101", "q=&k=5", "k=5", "q=x&over=audio", "q=x&k=ten",
                                   "q=" + "x" * 1001])
def test_bad_search_parameters_are_422(api, query):
    base, _ = api
    assert get_json(f"{base}/api/search?{query}")[0] == 422


def test_search_by_image_vector_and_key_find_the_sample(api):
    base, rel = api
    body, ctype = multipart({"k": "3", "safe": "false"}, ("q.jpg", image_of(rel.release, "000020003"), "image/jpeg"))
    status, res = post(f"{base}/api/search/image", body, ctype)
    assert status == 200 and res["results"][0]["key"] == "000020003"
    status, res = get_json(f"{base}/api/similar/000020003?k=3&safe=false")
    assert status == 200 and res["results"][0]["key"] == "000020003"
    from grassroots.index import load_index

    vec = load_index(rel.release).embedding(load_index(rel.release).position_of("000000002")).tolist()
    status, res = post(f"{base}/api/search/vector", json.dumps({"vector": vec, "k": 2, "safe": False}).encode(),
                       "application/json")
    assert status == 200 and res["results"][0]["key"] == "000000002"
    for bad in ({"vector": vec[:10]}, {"vector": [0.0] * len(vec)}, {"vector": vec, "k": 500},
                {"vector": vec, "extra": 1}, {"vector": []}):
        assert post(f"{base}/api/search/vector", json.dumps(bad).encode(), "application/json")[0] == 422, bad


def test_find_my_work_matches_by_pdq_and_embedding(api):
    base, rel = api
    body, ctype = multipart({}, ("mine.jpg", image_of(rel.release, "000000003"), "image/jpeg"))
    status, res = post(f"{base}/api/find", body, ctype)
    assert status == 200 and len(res["pdq"]) == 64
    by_key = {m["key"]: m for m in res["matches"]}
    assert by_key["000000003"]["exact"] and by_key["000000003"]["distance"] == 0
    # its planted resized copy (tests/stages/test_score_select.PLANTED) is a near match, with its page
    assert 0 < by_key["000020004"]["distance"] <= 31
    assert by_key["000020004"]["page_url"] == "http://artist2.example/gallery/000020004.html"
    assert res["similar"][0]["key"] in ("000000003", "000020004")


def test_uploads_are_validated(api):
    base, rel = api
    body, ctype = multipart({}, ("x.jpg", b"not an image at all", "image/jpeg"))
    assert post(f"{base}/api/find", body, ctype)[0] == 400
    body, ctype = multipart({}, ("big.jpg", b"\xff" * 700_000, "image/jpeg"))  # server limit: 0.5 MB
    assert post(f"{base}/api/find", body, ctype)[0] == 413
    body, ctype = multipart({"k": "0"}, ("x.jpg", image_of(rel.release, "000000001"), "image/jpeg"))
    assert post(f"{base}/api/search/image", body, ctype)[0] == 422
    assert post(f"{base}/api/find", b"{}", "application/json")[0] == 422


def test_opt_out_requests_are_appended_validated_and_rate_limited(api):
    base, rel = api
    path = DatasetDir(rel.dataset).takedown_requests
    req = {"name": "A. Artist", "contact": "artist@example.org", "reason": "opt-out", "details": "my photo",
           "remove": {"keys": ["000000001"], "urls": ["HTTP://X:80/000000001.jpg"], "domains": ["artist0.example"],
                      "pdq": ["AB" * 32]}}
    status, first = post(f"{base}/api/optout", json.dumps(req).encode(), "application/json")
    assert status == 201, first
    assert first["id"].startswith("r-") and first["time"].endswith("Z") and first["release"] == "v1"
    assert first["remove"] == {"keys": ["000000001"], "urls": ["http://x/000000001.jpg"],  # in normal form
                               "domains": ["artist0.example"], "sha256": [], "md5": [], "pdq": ["ab" * 32]}
    assert first["reason"] == "opt-out" and first["details"] == "my photo"
    for bad in ({**req, "remove": {"keys": [], "urls": []}}, {**req, "name": ""}, {**req, "reason": "my photo"},
                {**req, "remove": {"pdq": ["zz"]}}, {**req, "remove": {"urls": ["javascript:alert(1)"]}},
                {**req, "remove": {"urls": ["http://:80/x"]}}, {**req, "remove": {"images": ["x"]}},
                {**req, "admin": True}):
        status, body = post(f"{base}/api/optout", json.dumps(bad).encode(), "application/json")
        assert status == 422, (bad, body)
    statuses = [post(f"{base}/api/optout", json.dumps(req).encode(), "application/json")[0] for _ in range(3)]
    assert statuses == [201, 201, 429]  # 3 an hour per client (this server's setting); refused ones do not count
    mine = [r for r in read_requests(path) if r.name == "A. Artist"]
    assert len(mine) == 3 and len({r.id for r in mine}) == 3 and mine[0].to_dict() == first
    assert build_ask(path, {}).values("urls") == ["http://x/000000001.jpg"]  # what the takedown step reads


def test_requests_append_concurrently_without_losing_a_line(tmp_path):
    path = DatasetDir(str(tmp_path / "ds")).takedown_requests

    def file(i: int) -> None:
        for j in range(10):
            append_request(path, new_request("other", {"keys": [str(j)]}, name=f"n{i}", details="r" * 4000))

    threads = [threading.Thread(target=file, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    lines = read_requests(path)  # every line parses and ids are unique
    assert len(lines) == 80 and len({r.id for r in lines}) == 80


def test_rate_limiter_slides_its_window():
    now = [0.0]
    limiter = RateLimiter(2, 10, clock=lambda: now[0])
    assert limiter.allow("a")[0] and limiter.allow("a")[0]
    allowed, wait = limiter.allow("a")
    assert not allowed and wait == pytest.approx(10)
    assert limiter.allow("b")[0]
    now[0] = 10.5
    assert limiter.allow("a")[0]


@pytest.mark.parametrize("body", [
    b'{"vector": [1e309, 1e309]}', b'{"vector": [NaN, 0.5]}', b'{"vector": [1e308, -1e309]}',
    b'{"vector": [0.1, 0.2], "k": Infinity}', b'{"vector": [0.1], "k": 1e999}',
    b'{"vector": [' + b"1" * 5000 + b"]}", b'{"vector": ' + b"[" * 50000 + b"]" * 50000 + b"}",
    b'{"vector": [0.1], "over": "\xff\xfe"}', b"\xff\xfe\x00", b"",
])
def test_hostile_vector_bodies_are_4xx_with_a_json_body(api, body):
    """Validation errors never echo what cannot be written as JSON (an infinite number made
    FastAPI's own 422 a 500: issue 28); every answer is a 4xx whose body parses."""
    base, _ = api
    status, doc = post(f"{base}/api/search/vector", body, "application/json")
    assert 400 <= status < 500 and isinstance(doc, dict) and "detail" in doc, (status, doc)


def test_non_finite_and_huge_numbers_anywhere_are_4xx(api):
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    base, _ = api
    numbers = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-10**400, 10**400))

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
    @given(vector=st.lists(numbers, min_size=1, max_size=8), k=numbers)
    def check(vector, k):
        body = json.dumps({"vector": vector, "k": k}).encode()  # Infinity, NaN and 400-digit integers as written
        status, doc = post(f"{base}/api/search/vector", body, "application/json")
        assert status < 500 and isinstance(doc, dict), (status, doc)

    check()

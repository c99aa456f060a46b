import csv

from PIL import Image

from grassroots.miniweb import MiniWeb

from .helpers import fetch


def make_corpus(root, n=7):
    www = root / "www" / "oc" / "animals"
    www.mkdir(parents=True)
    rows = []
    for i in range(n):
        ext = ("png", "jpg", "webp")[i % 3]
        Image.new("RGB", (300 + i, 200), (i * 30, 100, 50)).save(www / f"a{i}.{ext}")
        rows.append((f"oc/animals/a{i}.{ext}", f"animal number {i}", f"artist {i}",
                     "http://creativecommons.org/licenses/publicdomain/", "animals"))
    with open(root / "urls.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "caption", "creator", "license", "category"])
        w.writerows(rows)
    return root / "www", root / "urls.csv"


def test_serves_a_real_corpus_instead_of_scenes(tmp_path):
    images, captions = make_corpus(tmp_path)
    with MiniWeb(hosts=3, images_dir=images, captions_csv=captions, hostile=False) as web:
        rows = [r for r in web.truth() if "/oc/" in r["url"]]
        assert len(rows) == 7 and {r["caption"] for r in rows} == {f"animal number {i}" for i in range(7)}
        assert not any("/img/p" in u for u in web.image_urls())  # plain scene pages replaced
        for r in rows:
            status, headers, body = fetch(r["url"])
            rel = r["url"].split("/", 3)[3]
            assert status == 200 and body == (images / rel).read_bytes()
            assert headers["content-type"].startswith("image/")
        page = fetch(rows[0]["page_url"])[2]
        assert b'rel="license"' in page and b"artist 0" in page
        # host rules still apply to corpus pages: host 1's CCBot group refuses every .png
        for r in rows:
            refused = r["url"].startswith(web.base_urls[1]) and r["url"].endswith(".png")
            assert (r["expect"], r["reason"]) == (("refused", "robots_txt") if refused else ("success", None))

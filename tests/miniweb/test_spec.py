import pytest

from grassroots.miniweb.spec import load_spec, parse_spec


def test_default_spec_loads_and_has_every_channel():
    spec = load_spec()
    hosts = {h.name: h for h in spec.hosts}
    assert {"robots-groups", "robots-own-group", "robots-503", "tdmrep", "ai-txt", "x-robots-and-meta", "embedded"} <= set(hosts)
    assert hosts["robots-503"].robots_status == 503 and hosts["tdmrep"].robots_status == 404
    images = [i for h in spec.hosts for p in h.pages for i in p.images]
    assert any(i.c2pa for i in images) and any(i.xmp for i in images) and any(i.headers for i in images)


def test_custom_spec_file(tmp_path):
    f = tmp_path / "s.toml"
    f.write_text(
        """
[site]
pages_per_host = 1
images_per_page = 2
[[hosts]]
index = 0
robots_txt = "User-agent: *\\nDisallow: /no/\\n"
[[hosts.pages]]
path = "/x.html"
meta = [["robots", "noai"]]
images = [{ path = "/no/a.png", headers = [["X-Robots-Tag", "noai"]], xmp = "DMI-ALLOWED", c2pa = { "c2pa.ai_training" = "allowed" } }]
"""
    )
    spec = load_spec(f)
    assert spec.pages_per_host == 1 and spec.host(0).pages[0].images[0].headers == (("X-Robots-Tag", "noai"),)
    assert spec.host(5).robots_txt is None  # unlisted host: plain


@pytest.mark.parametrize(
    "bad",
    [
        '[[hosts]]\nindex = 0\n[[hosts.pages]]\npath="/a"\nimages=[{path="/a.jpg", xmp_form="weird"}]',
        '[[hosts]]\nindex = 0\n[[hosts.pages]]\npath="/a"\nimages=[{path="/a.jpg", c2pa={"c2pa.ai_training"="maybe"}}]',
        "[[hosts]]\nindex = 0\n[[hosts]]\nindex = 0\n",
    ],
)
def test_bad_spec_rejected(bad):
    with pytest.raises(ValueError):
        parse_spec(bad)

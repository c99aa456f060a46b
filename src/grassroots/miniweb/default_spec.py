'''The built-in rights spec: every case of specs/rights.md, a minority of all images.

Host 0 is plain and carries the hostile pages (see hostile.py). Each note says what a
correct crawler (GrassrootsBot, conservative mode, noindex honoured) must do.
``grassroots miniweb spec`` prints this text as a starting point for your own file.
'''

DEFAULT_SPEC_TOML = r'''
[site]
pages_per_host = 4
images_per_page = 5
plain_robots_txt = """
User-agent: *
Disallow: /private/
"""

# ---------------------------------------------------------------- robots.txt groups
[[hosts]]
index = 1
name = "robots-groups"
plain_formats = ["jpg", "webp"]   # CCBot refuses every .png here
robots_txt = """
User-agent: *
Disallow: /nobody/

User-agent: GPTBot
Disallow: /art/
Allow: /art/public/

User-agent: ccbot
Disallow: /*.png$
"""

[[hosts.pages]]
path = "/galleries/art.html"
images = [
  { path = "/art/public/a.jpg", note = "GPTBot: Allow /art/public/ is longer than Disallow /art/ -> success" },
  { path = "/art/b.jpg", note = "GPTBot disallows /art/ (conservative mode) -> refused robots_txt" },
]

[[hosts.pages]]
path = "/misc/pngs.html"
images = [
  { path = "/misc/x.png", note = "CCBot (lower-case group name) Disallow /*.png$ -> refused robots_txt" },
  { path = "/misc/x.png?size=2", note = "$ anchors the end: query string escapes the rule -> success" },
]

[[hosts.pages]]
path = "/nobody/page.html"
note = "the page itself is disallowed by *: every image taken from it is refused"
images = [
  { path = "/img/from-disallowed-page.jpg", note = "page URL disallowed -> refused robots_txt" },
]

# our own group (listed with the AI tokens) replaces `*`
[[hosts]]
index = 2
name = "robots-own-group"
robots_txt = """
User-agent: *
Disallow: /

User-agent: GrassrootsBot
User-agent: CCBot
User-agent: GPTBot
User-agent: Google-Extended
User-agent: ClaudeBot
User-agent: anthropic-ai
User-agent: img2dataset
Disallow: /mine/
"""

[[hosts.pages]]
path = "/mine-gallery.html"
images = [
  { path = "/mine/x.jpg", note = "our group disallows /mine/ -> refused robots_txt" },
  { path = "/ours/y.jpg", note = "our group replaces `*` (Disallow: /) -> success" },
]

[[hosts]]
index = 3
name = "robots-503"
robots_status = 503
pages_per_host = 1
note = "503 robots.txt: nothing on the host is fetched (robots_unreachable, a transient failure)"

# ------------------------------------------------------- 404 robots.txt + TDMRep
[[hosts]]
index = 4
name = "tdmrep"
robots_status = 404
tdmrep_json = """[
  {"location": "/tdm/", "tdm-reservation": 1, "tdm-policy": "https://policy.example/tdm.json"},
  {"location": "/tdm/img/*.jpg", "tdm-reservation": 0},
  {"location": "/tdm-open/", "tdm-reservation": 0},
  {"location": "/tdm-string/", "tdm-reservation": "1"}
]"""

[[hosts.pages]]
path = "/tdm-cases.html"
images = [
  { path = "/tdm/img/a.jpg", note = "first matching rule wins (/tdm/ = 1) -> refused tdmrep" },
  { path = "/tdm/override/b.jpg", headers = [["tdm-reservation", "0"]], note = "header 0 overrides tdmrep.json 1 -> success" },
  { path = "/tdm-open/c.jpg", note = "tdmrep.json 0 -> success" },
  { path = "/tdm-open/d.jpg", headers = [["tdm-reservation", "1"], ["tdm-policy", "https://policy.example/d.json"]], note = "header 1 overrides file 0 -> refused tdmrep" },
  { path = "/tdm-open/e.png", headers = [["tdm-reservation", "2"]], note = "other header value = unset; file 0 stands -> success" },
  { path = "/tdm-string/f.jpg", note = "\"1\" as a string is unset -> success" },
]

[[hosts.pages]]
path = "/tdm-meta.html"
meta = [["tdm-reservation", "1"], ["tdm-policy", "https://policy.example/page.json"]]
images = [
  { path = "/tdm-open/g.jpg", note = "page meta 1 overrides file 0 -> refused tdmrep" },
  { path = "/tdm-open/h.webp", headers = [["tdm-reservation", "0"]], note = "page meta (highest channel) 1 beats header 0 -> refused tdmrep" },
]

[[hosts.pages]]
path = "/tdm-meta-open.html"
meta = [["tdm-reservation", "0"]]
images = [
  { path = "/tdm/img2/i.jpg", note = "file 1, page meta 0 overrides -> success" },
]

# ------------------------------------------------------------------------ ai.txt
[[hosts]]
index = 5
name = "ai-txt"
plain_formats = ["jpg", "png"]
ai_txt = """
# Spawning ai.txt
User-Agent: *
Disallow: *.webp
Disallow: /private-ai/
this line is junk and skipped
Allow: *.jpg
"""

[[hosts.pages]]
path = "/ai-cases.html"
images = [
  { path = "/ai/a.webp", note = "Disallow *.webp -> refused ai_txt" },
  { path = "/ai/b.WEBP", note = "extension patterns match case-insensitively -> refused ai_txt" },
  { path = "/private-ai/c.jpg", note = "/private-ai/ is longer than /*.jpg -> refused ai_txt" },
  { path = "/ai/d.jpg", note = "Allow *.jpg -> success" },
]

# --------------------------------------------------- X-Robots-Tag and page meta
[[hosts]]
index = 6
name = "x-robots-and-meta"

[[hosts.pages]]
path = "/xrt-cases.html"
images = [
  { path = "/xrt/noai.jpg", headers = [["X-Robots-Tag", "noai"]], note = "-> refused x_robots_tag" },
  { path = "/xrt/upper.jpg", headers = [["X-Robots-Tag", "NOAI"]], note = "case-insensitive -> refused x_robots_tag" },
  { path = "/xrt/otherbot.jpg", headers = [["X-Robots-Tag", "otherbot: noai"]], note = "scoped to another bot -> success" },
  { path = "/xrt/noindex-otherbot.jpg", headers = [["X-Robots-Tag", "noindex, otherbot: noai"]], note = "noindex is unscoped -> refused x_robots_tag" },
  { path = "/xrt/two-lines.png", headers = [["X-Robots-Tag", "otherbot: noindex"], ["X-Robots-Tag", "GrassrootsBot: noimageai"]], note = "second line scoped to us -> refused x_robots_tag" },
  { path = "/xrt/unavailable.jpg", headers = [["X-Robots-Tag", "unavailable_after: 25 Jun 2010 15:00:00 PST"]], note = "not a bot name -> success" },
  { path = "/xrt/preview.webp", headers = [["X-Robots-Tag", "max-image-preview: large"]], note = "not a bot name -> success" },
]

[[hosts.pages]]
path = "/meta/noimageai.html"
meta = [["robots", "noimageai"]]
images = [
  { path = "/meta/a.jpg", note = "page meta robots noimageai -> refused html_meta" },
  { path = "/meta/deviantart.jpg", headers = [["X-Robots-Tag", "noai"]], note = "page noimageai + image noai -> reasons html_meta, x_robots_tag" },
  { path = "/meta/blocked-host.jpg", host = 3, note = "image on the 503-robots host -> reasons html_meta (refused), robots_unreachable" },
]

[[hosts.pages]]
path = "/meta/bot-named.html"
meta = [["GrassrootsBot", "noai"]]
images = [{ path = "/meta/b.jpg", note = "meta named after us -> refused html_meta" }]

[[hosts.pages]]
path = "/meta/otherbot.html"
meta = [["otherbot", "noai"]]
images = [{ path = "/meta/c.jpg", note = "meta for another bot -> success" }]

[[hosts.pages]]
path = "/meta/noindex.html"
meta = [["robots", "noindex, follow"]]
images = [{ path = "/meta/d.png", note = "noindex honoured by default -> refused html_meta" }]

[[hosts.pages]]
path = "/meta/preview.html"
meta = [["robots", "max-image-preview:large"]]
images = [{ path = "/meta/e.jpg", note = "-> success" }]

# ------------------------------------------------------- embedded XMP and C2PA
[[hosts]]
index = 7
name = "embedded"

[[hosts.pages]]
path = "/embedded/xmp.html"
images = [
  { path = "/xmp/aiml.jpg", xmp = "DMI-PROHIBITED-AIMLTRAINING", note = "-> refused iptc_xmp" },
  { path = "/xmp/prohibited.png", xmp = "DMI-PROHIBITED", xmp_form = "element", note = "-> refused iptc_xmp" },
  { path = "/xmp/genai.webp", xmp = "DMI-PROHIBITED-GENAIMLTRAINING", xmp_form = "resource", note = "-> refused iptc_xmp" },
  { path = "/xmp/allowed.jpg", xmp = "DMI-ALLOWED", note = "-> success" },
  { path = "/xmp/unspecified.png", xmp = "DMI-UNSPECIFIED", xmp_form = "element", note = "-> success" },
  { path = "/xmp/other-prefix.jpg", xmp = "DMI-PROHIBITED-SEECONSTRAINT", xmp_form = "prefix", note = "namespace, not prefix -> refused iptc_xmp" },
  { path = "/xmp/bare.png", xmp = "DMI-PROHIBITED-EXCEPTSEARCHENGINEINDEXING", xmp_form = "bare", note = "bare value -> refused iptc_xmp" },
]

[[hosts.pages]]
path = "/embedded/c2pa.html"
images = [
  { path = "/c2pa/not-allowed.jpg", c2pa = { "c2pa.ai_training" = "notAllowed", "c2pa.data_mining" = "allowed" }, note = "-> refused c2pa" },
  { path = "/c2pa/constrained.png", c2pa = { "cawg.ai_generative_training" = "constrained" }, note = "constrained counts as notAllowed -> refused c2pa" },
  { path = "/c2pa/allowed.webp", c2pa = { "c2pa.ai_training" = "allowed", "cawg.data_mining" = "allowed" }, note = "-> success" },
  { path = "/c2pa/both.jpg", xmp = "DMI-PROHIBITED", c2pa = { "cawg.ai_training" = "notAllowed" }, note = "-> reasons iptc_xmp, c2pa" },
]
'''

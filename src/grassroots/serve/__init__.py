"""``grassroots serve``: a release's search API and page (FastAPI + uvicorn).

    config.py   ServeConfig: limits (upload bytes, pixels, k), safety threshold, rate limit
    search.py   SearchService: the loaded index + the release's CLIP model; results, samples, images
    optout.py   RateLimiter: opt-out requests per client (the record and its append:
                grassroots.takedown.requests)
    app.py      create_app(config): the JSON API (OpenAPI at /openapi.json) and the static page
    static/     index.html, app.js, style.css: the page (no build step)
"""

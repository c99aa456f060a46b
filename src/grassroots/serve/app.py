"""create_app(config): the JSON API and the page, one FastAPI app.

    GET  /                         the search page (static/index.html)
    GET  /api/info                 release, model, index kind, heads, limits
    GET  /api/search?q=&k=&over=&safe=&dedup=   text query, encoded by the release's model
    POST /api/search/image         multipart file (+ k, over, safe, dedup): search by image
    POST /api/search/vector        JSON {vector, k, over, safe, dedup}: search by an embedding
    GET  /api/similar/{key}        samples like an indexed one
    GET  /api/sample/{key}         caption, URL, page, licence, rights signals, attributes
    GET  /api/image/{key}          the image bytes from the release's tar
    POST /api/find                 multipart file: find my work (PDQ exact/near + embedding)
    POST /api/optout               JSON request -> DATASET/takedowns/requests.jsonl (201 with the record;
                                   429 when rate-limited; format: grassroots.takedown.requests)

Every input is validated (422), uploads are capped (413), unknown keys are 404,
an unreadable image is 400, and a release without its model answers text and
image queries with 503 and a reason.
"""

from __future__ import annotations

import re
from pathlib import Path

from fastapi import FastAPI, File, Form, HTTPException, Query, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles

from grassroots.errors import InputError
from grassroots.serve.config import ServeConfig
from grassroots.serve.optout import RateLimiter
from grassroots.serve.schemas import (KEY_PATTERN, FindResponse, Info, OptOutIn, OptOutOut, Over, Sample,
                                      SearchResponse, VectorQuery)
from grassroots.serve.search import BadImage, ModelUnavailable, SearchService, decode_image
from grassroots.takedown.requests import append_request, new_request

STATIC = Path(__file__).parent / "static"
FORM_OVERHEAD = 64 * 1024  # multipart headers and small fields around an upload
# A body a little over the limit is read and answered 413 by the handler (a client that is
# still sending sees the answer); one over twice the limit is refused before it is read.


def validation_error(err: dict) -> dict:
    """One validation error as plain JSON: its location, message and type, never the
    offending input (non-finite numbers, undecodable bytes, megabytes of it)."""
    loc = [x if isinstance(x, (str, int)) and not isinstance(x, bool) else str(x) for x in err.get("loc", ())]
    return {"loc": loc, "msg": str(err.get("msg", ""))[:500], "type": str(err.get("type", ""))}


def create_app(config: ServeConfig, service: SearchService | None = None) -> FastAPI:
    service = service or SearchService(config)
    limiter = RateLimiter(config.optout_per_window, config.optout_window_seconds)
    max_k = config.max_k
    app = FastAPI(title="Grassroots search", version="1",
                  description=f"Search release {config.release} of {config.dataset}, find your work, opt out.")
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.middleware("http")
    async def cap_body(request: Request, call_next):
        length = request.headers.get("content-length")
        if length is not None:
            if not length.isdigit():
                return JSONResponse({"detail": "bad Content-Length"}, status_code=400)
            if int(length) > 2 * config.max_upload_bytes + FORM_OVERHEAD:  # refused before it is read
                return JSONResponse({"detail": f"request body over {config.max_upload_bytes} bytes"}, 413)
        return await call_next(request)

    @app.exception_handler(ModelUnavailable)
    async def _no_model(request: Request, e: ModelUnavailable):
        return JSONResponse({"detail": f"text and image queries are off: {e}"}, status_code=503)

    @app.exception_handler(BadImage)
    async def _bad_image(request: Request, e: BadImage):
        return JSONResponse({"detail": str(e)}, status_code=400)

    @app.exception_handler(InputError)
    async def _bad_input(request: Request, e: InputError):
        return JSONResponse({"detail": e.problem}, status_code=422)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, e: RequestValidationError):
        # FastAPI's own 422 echoes the input, and an infinite or NaN number (JSON's 1e309,
        # NaN) cannot be written back as JSON: the answer became a 500. Where and what, only.
        return JSONResponse({"detail": [validation_error(err) for err in e.errors()]}, status_code=422)

    def position(key: str) -> int:
        pos = service.position(key) if re.fullmatch(KEY_PATTERN, key) else None
        if pos is None:
            raise HTTPException(404, f"no sample {key[:40]!r} in release {config.release}")
        return pos

    async def read_upload(file: UploadFile):
        data = await file.read(config.max_upload_bytes + 1)
        if len(data) > config.max_upload_bytes:
            raise HTTPException(413, f"image over {config.max_upload_bytes} bytes")
        return await run_in_threadpool(decode_image, data, config.max_pixels)

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html")

    @app.get("/api/info", response_model=Info)
    def info() -> dict:
        return service.info()

    @app.get("/api/search", response_model=SearchResponse)
    def search_text(q: str = Query(min_length=1, max_length=1000), k: int = Query(20, ge=1, le=max_k),
                    over: Over = "img", safe: bool = True, dedup: bool = True) -> dict:
        results = service.search(service.encode_text(q), k, over, safe, dedup)
        return {"query": {"q": q, "k": k, "over": over, "safe": safe, "dedup": dedup}, "results": results}

    @app.post("/api/search/image", response_model=SearchResponse)
    async def search_image(file: UploadFile = File(...), k: int = Form(20, ge=1, le=max_k), over: Over = Form("img"),
                           safe: bool = Form(True), dedup: bool = Form(True)) -> dict:
        image = await read_upload(file)
        vector = await run_in_threadpool(service.encode_image, image)
        results = await run_in_threadpool(service.search, vector, k, over, safe, dedup)
        return {"query": {"image": file.filename, "k": k, "over": over, "safe": safe}, "results": results}

    @app.post("/api/search/vector", response_model=SearchResponse)
    def search_vector(body: VectorQuery) -> dict:
        import numpy as np

        if body.k > max_k:
            raise HTTPException(422, f"k is at most {max_k}")
        results = service.search(np.array(body.vector, dtype=np.float32), body.k, body.over, body.safe, body.dedup)
        return {"query": {"k": body.k, "over": body.over, "safe": body.safe}, "results": results}

    @app.get("/api/similar/{key}", response_model=SearchResponse)
    def similar(key: str, k: int = Query(20, ge=1, le=max_k), over: Over = "img", safe: bool = True) -> dict:
        vector = service.index.embedding(position(key), over)
        return {"query": {"key": key, "k": k, "over": over, "safe": safe},
                "results": service.search(vector, k, over, safe)}

    @app.get("/api/sample/{key}", response_model=Sample)
    def sample(key: str) -> dict:
        return service.sample(position(key))

    @app.get("/api/image/{key}", responses={200: {"content": {"image/jpeg": {}}}})
    def image(key: str) -> Response:
        found = service.image(position(key))
        if found is None:
            raise HTTPException(404, f"sample {key} has no stored image")
        return Response(found[0], media_type=found[1], headers={"Cache-Control": "max-age=3600"})

    @app.post("/api/find", response_model=FindResponse)
    async def find(file: UploadFile = File(...), k: int = Form(10, ge=1, le=max_k)) -> dict:
        image = await read_upload(file)
        return await run_in_threadpool(service.find_work, image, k)

    @app.post("/api/optout", response_model=OptOutOut, status_code=201,
              responses={429: {"description": "too many requests from this client; retry later"}})
    def optout(body: OptOutIn, request: Request) -> dict:
        try:  # the one record format and its checks: grassroots.takedown.requests
            record = new_request(body.reason, body.remove.model_dump(), name=body.name, contact=body.contact,
                                 details=body.details, release=config.release)
        except ValueError as e:
            raise HTTPException(422, str(e)) from None
        client = request.client.host if request.client else "unknown"
        allowed, wait = limiter.allow(client)  # only a request that would be queued counts
        if not allowed:
            raise HTTPException(429, f"too many opt-out requests; retry in {int(wait) + 1} s",
                                headers={"Retry-After": str(int(wait) + 1)})
        append_request(service.dataset.takedown_requests, record)
        return record.to_dict()

    return app


def serve(config: ServeConfig, host: str = "127.0.0.1", port: int = 8000, log_level: str = "warning") -> None:
    import uvicorn

    uvicorn.run(create_app(config), host=host, port=port, log_level=log_level)

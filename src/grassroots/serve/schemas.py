"""The API's request and response bodies (pydantic: validated, and in the OpenAPI schema)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from grassroots.takedown.requests import (MAX_CONTACT, MAX_DETAILS, MAX_NAME, MAX_VALUE, MAX_VALUES, PATTERNS,
                                          RequestReason)

KEY_PATTERN = PATTERNS["keys"]
DOMAIN = r"^([A-Za-z0-9_-]{1,63}\.){0,8}[A-Za-z0-9-]{1,63}\.?$"

Over = Literal["img", "txt"]
FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]


class Result(BaseModel):
    key: str
    score: float | None = None
    distance: int | None = None  # find-my-work: PDQ Hamming distance in bits
    exact: bool | None = None
    folded: int | None = None  # search: near-duplicates of this result (its cluster) left out of the page
    caption: str | None
    url: str | None
    page_url: str | None
    domain: str | None
    license: str | None
    image: str  # the image's API path


class SearchResponse(BaseModel):
    query: dict
    results: list[Result]


class VectorQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    vector: list[FiniteFloat] = Field(min_length=1, max_length=4096)
    k: int = Field(10, ge=1, le=1000)
    over: Over = "img"
    safe: bool = True
    dedup: bool = True


class FindResponse(BaseModel):
    pdq: str
    pdq_quality: int
    pdq_distance: int
    matches: list[Result]
    similar: list[Result]


class Sample(BaseModel):
    key: str
    caption: str | None
    url: str | None
    page_url: str | None
    domain: str | None
    license: str | None
    rights: list[str] | None
    page_signals: list[str] | None
    width: int | None
    height: int | None
    sha256: str | None
    pdq: str | None
    page_lang: str | None
    fetched_at: str | None
    image: str
    attributes: dict[str, dict]
    unsafe: bool


class Remove(BaseModel):
    """What to remove: the record's ``remove`` object (at least one list non-empty)."""
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    keys: list[Annotated[str, Field(pattern=PATTERNS["keys"])]] = Field([], max_length=MAX_VALUES)
    urls: list[Annotated[str, Field(min_length=1, max_length=MAX_VALUE)]] = Field(  # http(s): check_value
        [], max_length=MAX_VALUES)
    domains: list[Annotated[str, Field(max_length=253, pattern=DOMAIN)]] = Field([], max_length=MAX_VALUES)
    sha256: list[Annotated[str, Field(pattern=PATTERNS["sha256"])]] = Field([], max_length=MAX_VALUES)
    md5: list[Annotated[str, Field(pattern=PATTERNS["md5"])]] = Field([], max_length=MAX_VALUES)
    pdq: list[Annotated[str, Field(pattern=PATTERNS["pdq"])]] = Field([], max_length=MAX_VALUES)


class OptOutIn(BaseModel):
    """An opt-out request: who asks, why, and what to remove. The server adds id, time
    and release and appends the record (format: grassroots.takedown.requests)."""
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    name: str = Field(min_length=1, max_length=MAX_NAME)
    contact: str = Field(min_length=3, max_length=MAX_CONTACT,
                         description="an e-mail address or another way to reach you")
    reason: RequestReason
    details: str | None = Field(None, max_length=MAX_DETAILS, description="anything else the reviewer should know")
    remove: Remove


class OptOutOut(BaseModel):
    """The record as appended to DATASET/takedowns/requests.jsonl (values in normal form)."""
    id: str
    time: str
    release: str | None
    name: str | None
    contact: str | None
    reason: RequestReason
    details: str | None
    remove: Remove


class Info(BaseModel):
    release: str
    model_id: str
    count: int
    kind: str
    params: dict
    heads: list[str]
    safety_threshold: float
    text_search: bool
    max_k: int
    max_upload_bytes: int

"""The API's request and response bodies (pydantic: validated, and in the OpenAPI schema)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

KEY_PATTERN = r"^[0-9]{1,32}$"
HEX64 = r"^[0-9a-fA-F]{64}$"
DOMAIN = r"^([A-Za-z0-9_-]{1,63}\.){0,8}[A-Za-z0-9-]{1,63}\.?$"

Over = Literal["img", "txt"]
FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]


class Result(BaseModel):
    key: str
    score: float | None = None
    distance: int | None = None  # find-my-work: PDQ Hamming distance in bits
    exact: bool | None = None
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


class OptOutIn(BaseModel):
    """What to remove (at least one list non-empty), who asks, and why."""
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    name: str = Field(min_length=1, max_length=200)
    contact: str = Field(min_length=3, max_length=320, description="an e-mail address or another way to reach you")
    reason: str = Field("", max_length=4000)
    keys: list[Annotated[str, Field(pattern=KEY_PATTERN)]] = Field([], max_length=1000)
    urls: list[Annotated[str, Field(min_length=1, max_length=2048, pattern=r"^https?://\S+$")]] = Field(
        [], max_length=1000)
    domains: list[Annotated[str, Field(max_length=253, pattern=DOMAIN)]] = Field([], max_length=100)
    pdq: list[Annotated[str, Field(pattern=HEX64)]] = Field([], max_length=100)
    sha256: list[Annotated[str, Field(pattern=HEX64)]] = Field([], max_length=100)

    @model_validator(mode="after")
    def _something_to_remove(self) -> "OptOutIn":
        if not (self.keys or self.urls or self.domains or self.pdq or self.sha256):
            raise ValueError("name at least one thing to remove: keys, urls, domains, pdq or sha256")
        return self


class OptOutOut(BaseModel):
    id: str
    received_at: str
    release: str
    name: str
    contact: str
    reason: str
    keys: list[str]
    urls: list[str]
    domains: list[str]
    pdq: list[str]
    sha256: list[str]


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

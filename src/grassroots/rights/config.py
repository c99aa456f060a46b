"""RightsConfig: the switches of the rights layer, and what a dataset states it honoured."""

from __future__ import annotations

from dataclasses import asdict, dataclass

AI_TRAINING_TOKENS: tuple[str, ...] = (
    "CCBot",
    "GPTBot",
    "Google-Extended",
    "ClaudeBot",
    "anthropic-ai",
    "img2dataset",
)

HONOURED_PROTOCOLS: tuple[str, ...] = (
    "registry (user-supplied opt-out lists)",
    "robots.txt (RFC 9309) on the image host and the page host",
    "ai.txt (Spawning)",
    "TDMRep (tdmrep.json, tdm-reservation/tdm-policy headers and HTML meta)",
    "X-Robots-Tag (noai, noimageai; noindex, noimageindex, none when honour_noindex)",
    "HTML meta robots / bot-named meta (same directives)",
    "IPTC PLUS XMP plus:DataMining (every DMI-PROHIBITED* value)",
    "C2PA / CAWG training-mining assertions (notAllowed and constrained)",
    "hash blocklists (md5, sha256, URL sha256, PDQ)",
)


@dataclass(frozen=True)
class RightsConfig:
    user_agent: str = "GrassrootsBot"  # our robots.txt product token
    # Also refuse what robots.txt / ai.txt / bot-scoped X-Robots-Tag and meta
    # forbid to any of the common AI-training tokens.
    conservative_robots: bool = True
    ai_tokens: tuple[str, ...] = AI_TRAINING_TOKENS
    # noindex / noimageindex / none refuse too (as img2dataset does).
    honour_noindex: bool = True
    registry_paths: tuple[str, ...] = ()
    blocklist_paths: tuple[str, ...] = ()
    illegal_list_paths: tuple[str, ...] = ()  # hash lists of illegal content: hits recorded with hashes only
    pdq_max_distance: int = 31  # match when Hamming distance <= this
    pdq_min_quality: int = 50  # PDQ hashes below this quality are not compared
    # False: refusals in an invalid (tampered / re-encoded) C2PA manifest still
    # refuse, permissions from it never count. True: ignore invalid manifests.
    c2pa_require_valid: bool = False
    host_file_ttl_s: float = 24 * 3600.0  # robots.txt / ai.txt / tdmrep.json cache (<= 24 h)
    host_file_retry_s: float = 600.0  # an unreachable robots.txt stays "disallow all" this long
    host_file_max_bytes: int = 512 * 1024  # RFC 9309: parse at least 500 KiB

    def __post_init__(self) -> None:
        if self.host_file_ttl_s > 24 * 3600:
            raise ValueError("host_file_ttl_s must be <= 24 h (RFC 9309 2.4)")
        if self.host_file_max_bytes < 500 * 1024:
            raise ValueError("host_file_max_bytes must be >= 500 KiB (RFC 9309 2.5)")

    def tokens(self) -> tuple[str, ...]:
        """Product tokens checked in robots.txt and ai.txt, ours first."""
        extra = self.ai_tokens if self.conservative_robots else ()
        return (self.user_agent, *(t for t in extra if t.lower() != self.user_agent.lower()))

    def to_manifest(self) -> dict:
        """JSON-ready statement of what this crawl honoured (for manifest.json and the card)."""
        out = asdict(self)
        out["registry_paths"] = list(self.registry_paths)
        out["blocklist_paths"] = list(self.blocklist_paths)
        out["illegal_list_paths"] = [str(p).rsplit("/", 1)[-1] for p in self.illegal_list_paths]  # names only
        out["ai_tokens"] = list(self.ai_tokens)
        out["tokens_checked"] = list(self.tokens())
        out["honours"] = list(HONOURED_PROTOCOLS)
        return out

"""Async HTTP fetching: per-host politeness, DNS cache, size/time caps, SSRF guard."""

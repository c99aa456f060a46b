"""Plain-socket HTTP helpers for mini-web tests (no redirects, no retries)."""

import http.client


def fetch(url: str, timeout: float = 5.0, method: str = "GET"):
    """(status, headers dict (lower-case keys, repeated joined by \\n), body) without redirects."""
    rest = url.split("://", 1)[1]
    netloc, _, path = rest.partition("/")
    conn = http.client.HTTPConnection(netloc, timeout=timeout)
    try:
        conn.request(method, "/" + path)
        resp = conn.getresponse()
        headers = {}
        for k, v in resp.getheaders():
            headers[k.lower()] = headers[k.lower()] + "\n" + v if k.lower() in headers else v
        return resp.status, headers, resp.read()
    finally:
        conn.close()

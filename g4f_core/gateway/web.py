"""The web page: ``/`` and ``/static/*`` from the package's own files, nothing from elsewhere.

gpt4free's page loads its code from other sites at run time and stops working offline;
this one ships inside the package. The Content-Security-Policy on every file says so to
the browser: scripts, styles, images and requests only from the gateway itself, no inline
script or style, no framing. The page needs no API key (it holds no data); the API calls
it makes carry the key the user enters.

The gateway mounts it with one call, :func:`page_response`, made before any of its own
routing: GET/HEAD of the page's paths are answered from here, all else is the API's.
"""

from __future__ import annotations

import threading
from importlib import resources

__all__ = ["CONTENT_SECURITY_POLICY", "PAGE_PATHS", "page_response"]

#: Everything from the gateway's own origin, nothing inline, nothing framed.
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "connect-src 'self'",
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)

#: URL path -> (file in g4f_core/gateway/static, content type).
PAGE_PATHS: dict[str, tuple[str, str]] = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/static/app.js": ("app.js", "text/javascript; charset=utf-8"),
    "/static/style.css": ("style.css", "text/css; charset=utf-8"),
    "/static/favicon.svg": ("favicon.svg", "image/svg+xml"),
}

_cache: dict[str, bytes] = {}
_cache_lock = threading.Lock()


def _read(name: str) -> bytes:
    """A static file's bytes, read once (package data works from a wheel or a zip too)."""
    with _cache_lock:
        body = _cache.get(name)
        if body is None:
            body = resources.files(__package__).joinpath("static").joinpath(name).read_bytes()
            _cache[name] = body
        return body


def page_response(method: str, path: str) -> tuple[int, list[tuple[str, str]], list[bytes]] | None:
    """Status, headers and body for one of the page's files; None for any other request.

    The gateway asks this first, before its key check: the page holds no data, and a
    browser cannot send the key with a navigation.
    """
    entry = PAGE_PATHS.get(path)
    if entry is None or method not in ("GET", "HEAD"):
        return None
    name, content_type = entry
    body = _read(name)
    headers = [
        ("Content-Type", content_type),
        ("Content-Length", str(len(body))),
        ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
        ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", "no-referrer"),
        # Revalidated on each load, so an upgraded package's page is never mixed with an old one.
        ("Cache-Control", "no-cache"),
    ]
    return 200, headers, [b"" if method == "HEAD" else body]

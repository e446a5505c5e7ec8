"""The baseline: the smallest correct H2o client a person would write with ``requests``.

Settings, conversation, generate over one pooled ``requests.Session``; the stream is read
with ``iter_content`` + split + ``json.loads``, to its end so the connection goes back to
the pool. No limits, no error tree, no retries, no cleanup: the floor g4f-core is measured
against. ``delete=True`` adds the ``DELETE`` g4f-core sends, to tell request count from
per-request overhead.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import requests

from .protocol import SETTINGS_FORM, UPSTREAM, generate_body

__all__ = ["RawClient"]


class RawClient:
    """One user's session: cookies and pooled connections are kept between calls."""

    def __init__(self, base_url: str, *, delete: bool = False) -> None:
        self.base = base_url.rstrip("/")
        self.delete = delete
        self.session = requests.Session()
        self.headers = {"Accept": "*/*", "Referer": f"{self.base}/"}

    def close(self) -> None:
        self.session.close()

    def stream(self, count: int) -> Iterator[str]:
        """Yield the text of each token of a ``count``-token reply as it arrives."""
        s, base, headers = self.session, self.base, self.headers
        s.post(f"{base}/settings", data=SETTINGS_FORM, headers=headers).raise_for_status()
        reply = s.post(f"{base}/conversation", json={"model": UPSTREAM}, headers=headers)
        conversation = reply.json()["conversationId"]
        url = f"{base}/conversation/{conversation}"
        with s.post(url, json=generate_body(count), headers=headers, stream=True) as response:
            response.raise_for_status()
            rest = b""
            for chunk in response.iter_content(chunk_size=65536):
                lines = (rest + chunk).split(b"\n")
                rest = lines.pop()
                for line in lines:
                    if line.startswith(b"data:"):
                        token = json.loads(line[5:])["token"]
                        if not token["special"]:
                            yield token["text"]
        if self.delete:
            s.delete(url, headers=headers).raise_for_status()

    def complete(self, count: int) -> str:
        return "".join(self.stream(count))

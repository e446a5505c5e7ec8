"""The baseline: the smallest correct H2o client a person would write with ``requests``.

It sends exactly H2o's requests: the welcome modal is accepted once per session (the
session cookie is kept, as H2o keeps it), then per call a conversation, the generation
and the ``DELETE`` of the conversation, all over one pooled ``requests.Session``. The
stream is read with ``iter_content`` + split + ``json.loads``, to its end so the
connection goes back to the pool. No limits, no error tree, no retries: the floor
g4f-core is measured against.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import requests

from .protocol import SETTINGS_FORM, UPSTREAM, generate_body

__all__ = ["RawClient"]


class RawClient:
    """One user's session: cookies and pooled connections are kept between calls."""

    def __init__(self, base_url: str) -> None:
        self.base = base_url.rstrip("/")
        self.session = requests.Session()
        self.headers = {"Accept": "*/*", "Referer": f"{self.base}/"}
        self.accepted = False

    def close(self) -> None:
        self.session.close()

    def _conversation(self) -> str:
        s, base, headers = self.session, self.base, self.headers
        if not self.accepted:
            s.post(f"{base}/settings", data=SETTINGS_FORM, headers=headers).raise_for_status()
            self.accepted = True
        reply = s.post(f"{base}/conversation", json={"model": UPSTREAM}, headers=headers)
        reply.raise_for_status()
        conversation: str = reply.json()["conversationId"]
        return conversation

    def stream(self, count: int) -> Iterator[str]:
        """Yield the text of each token of a ``count``-token reply as it arrives."""
        s, headers = self.session, self.headers
        url = f"{self.base}/conversation/{self._conversation()}"
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
        s.delete(url, headers=headers).raise_for_status()

    def complete(self, count: int) -> str:
        return "".join(self.stream(count))

"""The files ``g4f-core new-provider`` writes, with ``{{placeholders}}`` filled by scaffold.py.

Kept as text, apart from the writer, so each file reads as what the author will get.
The generated code is checked by tests/test_scaffold.py: installed, listed, run under
pytest with the conformance suite, and linted.
"""

from __future__ import annotations

__all__ = ["FILES"]

PYPROJECT = """\
[build-system]
requires = ["setuptools>=64"]
build-backend = "setuptools.build_meta"

[project]
name = "{{dist}}"
version = "0.1.0"
description = "{{name}}: a g4f-core provider"
readme = "README.md"
requires-python = ">=3.10"
dependencies = ["g4f-core"]

[project.optional-dependencies]
test = ["pytest>=8"]

# This entry point is what makes g4f-core find the provider: "Name" = "module".
[project.entry-points."g4f_core.providers"]
"{{name}}" = "{{module}}"

[tool.setuptools]
packages = ["{{module}}"]

[tool.ruff]
line-length = 100

[tool.ruff.lint]
select = ["E", "W", "F", "I", "B", "UP", "SIM", "RUF"]

[tool.pytest.ini_options]
testpaths = ["tests"]
addopts = "-ra"
filterwarnings = ["error"]
"""

PROVIDER = '''\
"""{{name}}: a g4f-core provider.

Replace the example protocol with your service's. The example speaks a small JSON API:
``POST /v1/chat`` with ``{"model", "messages", "stream", <options>}`` answers
``{"text": ...}``, or with ``"stream": true`` server-sent events ``data: {"text": ...}``
ending with ``data: [DONE]``. ``server.py`` serves that protocol on loopback, for the
tests and for trying the provider offline (``g4f-core emulate {{name}}``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from g4f_core import Option

if TYPE_CHECKING:
    import requests
    from g4f_core import Client, Emulator

# The contract: what g4f-core reads when the plugin loads (see g4f-core's CONTRIBUTING.md).
url = "https://api.{{slug}}.example"  # base_url= or {{env}} override it per call
models = ["{{slug}}-large", "{{slug}}-small"]  # the first is the default
supports_stream = True
needs_auth = False
working = True
contract_version = 1
options = (
    Option("temperature", float, 0.7, "sampling temperature, 0 to 2"),
    Option("max_tokens", int, 512, "most tokens to generate"),
)


def emulator(host: str = "localhost", port: int = 0, token_delay: float = 0.0) -> Emulator:
    """A loopback stand-in for the service, used by the tests and `g4f-core emulate`."""
    from .server import {{cls}}Emulator

    return {{cls}}Emulator(host, port, token_delay=token_delay)


def _create_completion(
    model: str, messages: list[dict[str, str]], stream: bool, **kwargs: Any
) -> Iterator[str]:
    """Yield the reply's text as it arrives (imports stay here so loading stays cheap)."""
    from g4f_core import Client, current

    body: dict[str, Any] = {"model": model, "messages": messages, "stream": stream}
    # Every declared option is here: the caller's value, checked, or its declared default.
    body.update({opt.name: kwargs[opt.name] for opt in options})
    with Client(current(), base_url=url) as http:
        response = http.request("POST", "/v1/chat", json=body, stream=stream)
        if stream:
            yield from _events(http, response)
        else:
            yield _text(response.text)


def _events(http: Client, response: requests.Response) -> Iterator[str]:
    events = http.events(response)  # bounded waits, typed errors, closes the response
    try:
        for data in events:
            if data == "[DONE]":
                http.finish(response)  # read the rest so the connection can be reused
                return
            yield _text(data)
    finally:
        events.close()


def _text(data: str) -> str:
    """The text of one JSON reply or event; anything else is the upstream's fault."""
    from g4f_core import ProviderResponseError

    try:
        text = json.loads(data).get("text")
    except (ValueError, AttributeError):
        text = None
    if not isinstance(text, str):
        raise ProviderResponseError("the reply carried no text")  # the core adds our name
    return text
'''

SERVER = '''\
"""A loopback stand-in for {{name}}'s service, speaking the protocol of ``__init__.py``.

Standard library only. The provider's ``emulator()`` factory builds it; the g4f-core
conformance suite starts it with a ``token_delay`` to see that the provider streams as
tokens arrive. Change it together with the provider: it is the protocol, executable.
"""

from __future__ import annotations

import json
import socket
import socketserver
import threading
from http.server import BaseHTTPRequestHandler
from types import TracebackType
from typing import Any

MODELS = ("{{slug}}-large", "{{slug}}-small")


def reply_tokens(model: str, messages: list[dict[str, str]]) -> list[str]:
    """The reply, word by word: an echo of the last user message, so tests can predict it."""
    said = next((m["content"] for m in reversed(messages) if m["role"] == "user"), "")
    words = f"Hello from the {{name}} emulator ({model}). You said: {said}".split(" ")
    return [words[0]] + [" " + word for word in words[1:]]


def problem_with(body: object) -> str | None:
    """What the service would refuse in a request body, if anything."""
    if not isinstance(body, dict):
        return "the body must be a JSON object"
    if body.get("model") not in MODELS:
        return f"unknown model; served: {', '.join(MODELS)}"
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "messages must be a non-empty list"
    for message in messages:
        if not isinstance(message, dict) or not isinstance(message.get("content"), str):
            return "every message needs a str content"
    temperature = body.get("temperature")
    if not isinstance(temperature, int | float) or not 0 <= temperature <= 2:
        return "temperature must be a number from 0 to 2"
    return None


class {{cls}}Emulator:
    """``start()`` serves on loopback and returns the URL; ``stop()`` ends every connection."""

    def __init__(self, host: str = "localhost", port: int = 0, *, token_delay: float = 0.0) -> None:
        self.host, self.port, self.token_delay = host, port, token_delay
        self.requests: list[Any] = []  # every request body received, for tests
        self.stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the emulator is not running")
        return f"http://{self.host}:{self._server.server_address[1]}"

    def start(self) -> str:
        bind = "127.0.0.1" if self.host == "localhost" else self.host
        self.stopping.clear()
        self._server = _Server((bind, self.port), self)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self.url

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        self.stopping.set()  # streams in progress end at their next token
        server.shutdown()
        server.server_close()  # waits for the handler threads
        if self._thread is not None:
            self._thread.join()

    def __enter__(self) -> {{cls}}Emulator:
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class _Server(socketserver.ThreadingMixIn, socketserver.TCPServer):
    allow_reuse_address = True
    daemon_threads = False  # so that server_close() joins them: stop() leaves nothing running

    def __init__(self, address: tuple[str, int], emulator: {{cls}}Emulator) -> None:
        self.emulator = emulator
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.0"  # one request per connection: nothing idles after stop()
    timeout = 5.0  # a client that connects and sends nothing cannot hold stop() up

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # tests read results, not access logs

    def do_POST(self) -> None:
        if self.path != "/v1/chat":
            self._json(404, {"error": {"message": "no such endpoint"}})
            return
        try:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
        except ValueError:
            self._json(400, {"error": {"message": "the body is not JSON"}})
            return
        self.server.emulator.requests.append(body)
        problem = problem_with(body)
        if problem:
            self._json(400, {"error": {"message": problem}})
            return
        tokens = reply_tokens(body["model"], body["messages"])
        if body.get("stream"):
            self._stream(tokens)
        else:
            self._json(200, {"text": "".join(tokens)})

    def _json(self, status: int, data: object) -> None:
        payload = json.dumps(data).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _stream(self, tokens: list[str]) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        emulator = self.server.emulator
        try:
            for token in tokens:
                if emulator.stopping.wait(emulator.token_delay):
                    return
                self.wfile.write(b"data: " + json.dumps({"text": token}).encode() + b"\\n\\n")
            self.wfile.write(b"data: [DONE]\\n\\n")
        except OSError:
            pass  # the client hung up early: its right
'''

TESTS = '''\
"""{{name}}'s tests: the g4f-core conformance suite against the emulator, then your own.

``pytest`` runs them against the emulator; ``pytest --g4f-live`` runs the conformance
checks against the live endpoint instead.
"""

from __future__ import annotations

import g4f_core
from g4f_core.testing.pytest_plugin import conformance_tests

from {{module}}.server import {{cls}}Emulator

# One test per check: test_conformance[streaming], test_conformance[timeout], ...
test_conformance = conformance_tests("{{name}}")


def test_the_reply_is_the_emulator_echo() -> None:
    with {{cls}}Emulator() as server:
        text = g4f_core.complete("Hi there", provider="{{name}}", base_url=server.url)
    assert text == "Hello from the {{name}} emulator ({{slug}}-large). You said: Hi there"


def test_options_reach_the_service() -> None:
    with {{cls}}Emulator() as server:
        g4f_core.complete("Hi", provider="{{name}}", base_url=server.url, temperature=0.2)
    assert server.requests[-1]["temperature"] == 0.2


def test_options_left_out_are_sent_with_their_declared_defaults() -> None:
    with {{cls}}Emulator() as server:
        g4f_core.complete("Hi", provider="{{name}}", base_url=server.url)
    assert server.requests[-1]["temperature"] == 0.7
    assert server.requests[-1]["max_tokens"] == 512
'''

CONFTEST = '''\
"""Enables g4f-core's pytest plugin: the ``g4f_conformance`` fixture and ``--g4f-live``."""

pytest_plugins = ["g4f_core.testing.pytest_plugin"]
'''

README = """\
# {{dist}}

**{{name}}**, a provider for [g4f-core](https://pypi.org/project/g4f-core/): call it by
name with `g4f_core.complete("Hello", provider="{{name}}")` or `g4f-core chat -p {{name}}`.

## Try it

```sh
pip install -e .              # into the environment where g4f-core is installed
g4f-core providers            # {{name}} is listed
g4f-core show {{name}}        # its models, options and params
g4f-core emulate {{name}}     # serve the local emulator; then, in another shell:
g4f-core chat -p {{name}} --base-url http://localhost:PORT "Hello"
```

## Test it

```sh
pytest                               # the conformance suite and the tests, on the emulator
pytest --g4f-live                    # the conformance checks against the live endpoint
g4f-core check {{name}} --emulator   # the same checks from the shell, with a verdict
```

## Make it yours

- `{{module}}/__init__.py`: the provider. Set `url` and `models`, declare your `options`,
  and rewrite `_create_completion` for your service's protocol. Keep yielding text as it
  arrives, and keep using `g4f_core.Client`: it applies timeouts, the caller's base
  URL and credential, and turns failures into g4f-core's errors.
- `{{module}}/server.py`: the emulator. Change it with the provider so that the
  conformance suite keeps testing against something that speaks your protocol.
- `{{env}}` points the provider at another endpoint without code changes.
"""

#: Relative path (with placeholders) -> template.
FILES: dict[str, str] = {
    "pyproject.toml": PYPROJECT,
    "README.md": README,
    "conftest.py": CONFTEST,
    "{{module}}/__init__.py": PROVIDER,
    "{{module}}/server.py": SERVER,
    "{{module}}/py.typed": "",
    "tests/test_{{module}}.py": TESTS,
}

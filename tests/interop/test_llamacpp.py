"""The OpenAI-compatible provider against a real server nobody here wrote: llama.cpp's, from
``llama-cpp-python[server]``, serving a tiny random-weight model on loopback.

Out of the default run (marker ``interop``; the package takes minutes to build once):
``python3 scripts/dev.py interop`` installs it and runs this module. The server's
interpreter is this one, or ``G4F_INTEROP_PYTHON`` (one that has ``llama_cpp`` and
``gguf``). Known behaviour of that server, each pinned by a test below: it ignores the
model name and ``max_completion_tokens``; a streamed prompt over its context window is a
200 with an empty stream (the whole-reply call gets a 400 saying why), after which it
closes the connection; with its default ``interrupt_requests`` a request that comes while
a stream runs ends that stream with ``[DONE]`` but no ``finish_reason``.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

import g4f_core
from g4f_core import (
    ProviderConnectionError,
    ProviderError,
    ProviderHTTPError,
    ProviderResponseError,
)
from g4f_core.plugins import registry as registry_module
from g4f_core.plugins.registry import Registry

pytestmark = pytest.mark.interop

HERE = Path(__file__).resolve().parent
PYTHON = os.environ.get("G4F_INTEROP_PYTHON") or sys.executable
START_LIMIT = 120.0
#: The context window. The random model rarely ends a reply by itself, so a reply without
#: max_tokens runs to the window's end: kept small, that stays well within any timeout.
N_CTX = 512


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _has(module: str) -> bool:
    probe = f"import importlib.util, sys; sys.exit(importlib.util.find_spec({module!r}) is None)"
    return subprocess.run([PYTHON, "-c", probe], check=False, timeout=60).returncode == 0


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``python -m llama_cpp.server`` on a free loopback port; yields its base URL."""
    if not (_has("llama_cpp.server") and _has("gguf")):
        pytest.skip(f"{PYTHON} lacks llama-cpp-python[server] or gguf: run scripts/dev.py interop")
    folder = tmp_path_factory.mktemp("llamacpp")
    model = folder / "tiny.gguf"
    subprocess.run(
        [PYTHON, str(HERE / "make_tiny_gguf.py"), str(model)],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    port = _free_port()
    log = (folder / "server.log").open("w")
    process = subprocess.Popen(
        [PYTHON, "-m", "llama_cpp.server", "--model", str(model), "--host", "127.0.0.1",
         "--port", str(port), "--n_ctx", str(N_CTX)],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}/v1"
    try:
        _wait_ready(url, process)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=20)
        log.close()


def _wait_ready(url: str, process: subprocess.Popen[bytes]) -> None:
    end = time.monotonic() + START_LIMIT
    while time.monotonic() < end:
        if process.poll() is not None:
            raise RuntimeError(f"llama_cpp.server exited with {process.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/models", timeout=2) as reply:
                if reply.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"llama_cpp.server did not answer within {START_LIMIT:g} s")


@pytest.fixture(scope="module")
def config(server: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("config") / "g4f-core.toml"
    path.write_text(
        "[providers.Llama]\n"
        'protocol = "openai"\n'
        f'base_url = "{server}"\n'
        'models = { tiny = "tiny.gguf" }\n',
        encoding="utf-8",
    )
    return path


@pytest.fixture
def llama(config: Path) -> Registry:
    from importlib import metadata

    registry = Registry(
        [metadata.distribution("g4f-core")], environ={"G4F_CORE_CONFIG": str(config)}
    )
    registry_module._set_default(registry)
    return registry


def test_a_streamed_reply_arrives_in_many_chunks(llama: Registry) -> None:
    with g4f_core.stream("Say hello", provider="Llama", max_tokens=24, seed=1) as stream:
        chunks = list(stream)
    assert len(chunks) > 1 and all(isinstance(c, str) and c for c in chunks)
    assert len(chunks) <= 24  # one event per token, and max_tokens reached the server
    assert stream.provider == "g4f-core:Llama"


def test_a_whole_reply_is_text(llama: Registry) -> None:
    text = g4f_core.complete("Say hello", provider="Llama", max_tokens=24, seed=1)
    assert isinstance(text, str) and text.strip()


def test_greedy_decoding_gives_the_same_text_streamed_and_whole(llama: Registry) -> None:
    options = {"max_tokens": 16, "temperature": 0.0, "seed": 7}
    whole = g4f_core.complete("Count with me", provider="Llama", **options)
    with g4f_core.stream("Count with me", provider="Llama", **options) as stream:
        streamed = "".join(stream)
    assert streamed == whole


def test_stop_sequences_reach_the_server(llama: Registry) -> None:
    free = g4f_core.complete("Go on", provider="Llama", max_tokens=48, temperature=0.0)
    word = free.split()[2] if len(free.split()) > 3 else None
    if word is None:
        pytest.skip("the model's greedy reply is too short to pick a stop word from")
    stopped = g4f_core.complete(
        "Go on", provider="Llama", max_tokens=48, temperature=0.0, stop=[word]
    )
    assert word not in stopped and free.startswith(stopped.rstrip())


def test_a_prompt_over_the_context_window(llama: Registry) -> None:
    prompt = "hello world " * 2000
    stream = g4f_core.stream(prompt, provider="Llama", max_retries=0)
    with pytest.raises(ProviderResponseError, match="empty stream") as streamed, stream:
        list(stream)
    assert streamed.value.partial_text == ""
    # The server closes the connection after that empty stream; a request sent on it at once
    # can meet a reset, which the default retries (before any text) absorb.
    with pytest.raises(ProviderHTTPError) as whole:
        g4f_core.complete(prompt, provider="Llama")
    assert whole.value.status == 400
    assert "maximum context length" in str(whole.value)
    assert "hello world hello" not in str(whole.value)


def test_the_server_ignores_the_model_name(llama: Registry, config: Path) -> None:
    other = config.with_name("other.toml")
    other.write_text(config.read_text().replace('"tiny.gguf"', '"no-such-model"'))
    from importlib import metadata

    registry_module._set_default(
        Registry([metadata.distribution("g4f-core")], environ={"G4F_CORE_CONFIG": str(other)})
    )
    assert g4f_core.complete("Hi", provider="Llama", max_tokens=4)


def test_a_stream_another_request_interrupts_is_reported_cut_short(llama: Registry) -> None:
    """The server's default interrupt_requests ends the first stream with [DONE] and no
    finish_reason; g4f-core reports a truncated reply with exactly what it delivered."""
    outcome: dict[str, object] = {}
    delivered: list[str] = []
    started = threading.Event()

    def first() -> None:
        try:
            with g4f_core.stream("Tell a long story", provider="Llama", max_tokens=1500) as s:
                for chunk in s:
                    delivered.append(chunk)
                    started.set()
            outcome["text"] = "".join(delivered)
        except ProviderError as exc:
            outcome["error"] = exc
        finally:
            started.set()

    thread = threading.Thread(target=first)
    thread.start()
    assert started.wait(60)
    second = g4f_core.complete("Hi", provider="Llama", max_tokens=8)
    thread.join(120)
    assert second
    error = outcome.get("error")
    if error is None:
        pytest.skip("the first stream ended on its own before the second request came")
    assert isinstance(error, ProviderConnectionError)
    assert "cut short: [DONE] came before any chunk carried a finish_reason" in str(error)
    assert error.partial_text == "".join(delivered) != ""


def test_check_passes_live_against_the_server(config: Path) -> None:
    env = {**os.environ, "G4F_CORE_CONFIG": str(config)}
    done = subprocess.run(
        [sys.executable, "-m", "g4f_core", "check", "Llama", "--json"],
        capture_output=True, text=True, env=env, timeout=300, check=False,
    )  # fmt: skip
    report = json.loads(done.stdout)
    details = {c["name"]: (c["status"], c["detail"]) for c in report["reports"][0]["checks"]}
    assert done.returncode == 0, details
    assert report["reports"][0]["mode"] == "live"
    assert details["early-stop"][0] == "skip"


def test_chat_from_the_command_line(config: Path) -> None:
    env = {**os.environ, "G4F_CORE_CONFIG": str(config)}
    done = subprocess.run(
        [sys.executable, "-m", "g4f_core", "chat", "-p", "Llama", "-o", "max_tokens=8", "Hi"],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip()

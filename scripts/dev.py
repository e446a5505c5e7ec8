"""Set up and run the project from a fresh clone with nothing but Python.

    python3 scripts/dev.py test    # venv + dev install, then ruff, mypy and pytest
    python3 scripts/dev.py demo    # venv + install, then the offline demo (H2o, config, gateway)
    python3 scripts/dev.py bench   # venv + install, then the benchmarks -> docs/performance.md
    python3 scripts/dev.py reliability   # the fault suite's figures -> docs/reliability.md
    python3 scripts/dev.py interop # + llama-cpp-python[server]: the OpenAI provider vs llama.cpp

The virtual environment lives in .venv at the repository root and is reused.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import urllib.request
import venv
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")


def run(*cmd: str | Path, **kwargs: object) -> None:
    print("+", " ".join(str(c) for c in cmd), flush=True)
    subprocess.run([str(c) for c in cmd], cwd=ROOT, check=True, **kwargs)  # type: ignore[call-overload]


def setup(extra: str = "") -> None:
    """Create .venv when missing and install the project into it (editable).

    The default editable mode maps the installed name `g4f_core_providers` onto the
    repository's providers/ folder, which the plain-.pth "compat" mode cannot do.
    """
    if not (BIN / "python").exists():
        print(f"creating {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    target = f".[{extra}]" if extra else "."
    run(
        BIN / "python",
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "-e",
        target,
    )


def browser_note() -> None:
    """Say how to get the browser the page's tests need, before pytest skips them."""
    if not all(os.access(p, os.X_OK) for p in ("/usr/bin/chromium", "/usr/bin/chromedriver")):
        print(
            "note: tests/test_web_*.py need Chromium and its driver and are skipped without "
            "them (they fail under CI=true): sudo apt-get install chromium chromium-driver",
            flush=True,
        )


def test(args: list[str]) -> None:
    setup("dev")
    browser_note()
    run(BIN / "ruff", "check", ".")
    run(BIN / "ruff", "format", "--check", ".")
    run(BIN / "mypy")
    run(BIN / "pytest", *args)


def bench(args: list[str]) -> None:
    setup("dev")
    run(BIN / "python", "-m", "bench", *(args or ["--out", "docs/performance.md"]))


def reliability(args: list[str]) -> None:
    setup("dev")
    run(BIN / "python", "scripts/reliability.py", *args)


def interop(args: list[str]) -> None:
    """The OpenAI-compatible provider against llama.cpp's server (tests/interop).

    llama-cpp-python builds from source the first time (about ten minutes on two cores);
    pip's cache keeps the wheel for every later install.
    """
    setup("dev")
    run(
        BIN / "python",
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "llama-cpp-python[server]",
        "gguf",
    )
    run(BIN / "pytest", "-m", "interop", "tests/interop", "-v", "-p", "no:cacheprovider", *args)


def _started(cli: Path, *argv: str, env: dict[str, str] | None = None) -> tuple[Any, str]:
    """Start ``g4f-core ARGV`` in the background; the process and the URL its first line names."""
    server = subprocess.Popen(
        [str(cli), *argv], cwd=ROOT, stdout=subprocess.PIPE, text=True, env=env
    )
    assert server.stdout is not None
    first = server.stdout.readline().strip()
    print(first, flush=True)
    url = next((w for w in first.split() if w.startswith("http")), "")
    if not url:
        _stop(server)
        raise SystemExit(f"{argv[0]} did not start: {first!r}")
    return server, url


def _stop(server: Any) -> None:
    server.terminate()
    try:
        server.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait(timeout=10)


def _call(url: str, body: dict[str, Any] | None = None) -> Any:
    """GET (or POST ``body`` to) the demo's own loopback gateway, as JSON."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data, {"Content-Type": "application/json"})  # noqa: S310 - loopback
    with urllib.request.urlopen(request, timeout=30) as reply:  # noqa: S310 - loopback only
        return json.loads(reply.read())


def demo(args: list[str]) -> None:
    setup("serve")
    cli = BIN / "g4f-core"
    print("\n== 1. the installed providers", flush=True)
    run(cli, "providers")
    print("\n== 2. start the H2o emulator (a local stand-in for gpt-gm.h2o.ai)", flush=True)
    server, url = _started(cli, "emulate", "H2o", "--port", "0", "--token-delay", "0.04")
    try:
        print("\n== 3. a streamed reply through H2o (tokens print as they arrive)", flush=True)
        run(cli, "chat", "-p", "H2o", "--base-url", url, "Hello! What can you do?")
        print("\n== 4. a whole reply, model falcon-7b, endpoint from the environment", flush=True)
        env = dict(os.environ, G4F_CORE_H2O_URL=url)
        run(cli, "chat", "-p", "h2o", "-m", "falcon-7b", "--no-stream", "-o",
            "temperature=0.7", "Tell me about falcons.", env=env)  # fmt: skip
    finally:
        _stop(server)
    with tempfile.TemporaryDirectory() as folder:
        _demo_config(cli, Path(folder))
    print("\ndemo finished", flush=True)


def _demo_config(cli: Path, folder: Path) -> None:
    """An OpenAI-compatible endpoint from a config file, then the gateway over everything."""
    env = dict(os.environ, G4F_CORE_CONFIG=str(folder / "g4f-core.toml"))
    print("\n== 5. an OpenAI-compatible endpoint (Ollama, vLLM, llama.cpp...) in a config file")
    run(cli, "config", "add", "Local", "--base-url", "http://127.0.0.1:11434/v1",
        "--model", "llama3.2", env=env)  # fmt: skip
    run(cli, "config", env=env)
    server, url = _started(cli, "emulate", "Local", "--port", "0", env=env)
    try:
        print("\n== 6. a streamed reply from it (here: its local emulator)", flush=True)
        run(cli, "chat", "-p", "Local", "--base-url", url, "Hello!", env=env)
    finally:
        _stop(server)
    print("\n== 7. the OpenAI-compatible gateway, every provider on its emulator", flush=True)
    server, url = _started(cli, "serve", "--emulators", "--port", "0", env=env)
    try:
        models = _call(f"{url}/v1/models")
        print("models:", ", ".join(m["id"] for m in models["data"]), flush=True)
        for model in ("H2o/falcon-7b", "Local/llama3.2"):
            ask = {"model": model, "messages": [{"role": "user", "content": "Hi"}]}
            reply = _call(f"{url}/v1/chat/completions", ask)
            print(f"{model}: {reply['choices'][0]['message']['content'].strip()}", flush=True)
        print(f"(the web page is at {url}/ while the gateway runs)", flush=True)
    finally:
        _stop(server)


COMMANDS = {
    "test": test,
    "demo": demo,
    "bench": bench,
    "reliability": reliability,
    "interop": interop,
}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        raise SystemExit(f"usage: python3 scripts/dev.py {{{'|'.join(COMMANDS)}}} [args...]")
    try:
        COMMANDS[sys.argv[1]](sys.argv[2:])
    except subprocess.CalledProcessError as exc:
        raise SystemExit(exc.returncode) from None

"""Set up and run the project from a fresh clone with nothing but Python.

    python3 scripts/dev.py test    # venv + dev install, then ruff, mypy and pytest
    python3 scripts/dev.py demo    # venv + install, then the offline H2o demo
    python3 scripts/dev.py bench   # venv + install, then the benchmarks -> docs/performance.md
    python3 scripts/dev.py reliability   # the fault suite's figures -> docs/reliability.md
    python3 scripts/dev.py interop # + llama-cpp-python[server]: the OpenAI provider vs llama.cpp

The virtual environment lives in .venv at the repository root and is reused.
"""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

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


def demo(args: list[str]) -> None:
    setup()
    cli = BIN / "g4f-core"
    print("\n== 1. the installed providers", flush=True)
    run(cli, "providers")
    print("\n== 2. start the H2o emulator (a local stand-in for gpt-gm.h2o.ai)", flush=True)
    server = subprocess.Popen(
        [str(cli), "emulate", "H2o", "--port", "0", "--token-delay", "0.04"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        first = server.stdout.readline().strip()
        print(first, flush=True)
        url = first.rsplit(" ", 1)[-1]
        if not url.startswith("http"):
            raise SystemExit(f"the emulator did not start: {first!r}")
        print("\n== 3. a streamed reply through H2o (tokens print as they arrive)", flush=True)
        run(cli, "chat", "-p", "H2o", "--base-url", url, "Hello! What can you do?")
        print(
            "\n== 4. a non-streamed reply, model falcon-7b, endpoint from the environment",
            flush=True,
        )
        env = dict(os.environ, G4F_CORE_H2O_URL=url)
        run(
            cli,
            "chat",
            "-p",
            "h2o",
            "-m",
            "falcon-7b",
            "--no-stream",
            "-o",
            "temperature=0.7",
            "Tell me about falcons.",
            env=env,
        )
    finally:
        print("\n== 5. stop the emulator", flush=True)
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
    print("demo finished", flush=True)


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

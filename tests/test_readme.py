"""README.md's Python tour, run as written against the H2o emulator: its output is useful.

The tour is what a new user pastes first, so it must print something readable: each
provider's options as declarations (not reprs), every reply, and a newline after the
streamed one.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from g4f_core_providers.h2o.server import H2oEmulator

README = Path(__file__).resolve().parent.parent / "README.md"
TOUR_URL = "http://localhost:8765"


def tour() -> str:
    blocks = re.findall(r"^```python\n(.*?)^```", README.read_text(encoding="utf-8"), re.M | re.S)
    assert blocks, "README.md has no Python tour"
    return str(blocks[0])


def test_the_python_tour_prints_options_readably_and_every_reply(tmp_path: Path) -> None:
    code = tour()
    assert TOUR_URL in code
    with H2oEmulator() as emulator:
        env = {k: v for k, v in os.environ.items() if not k.startswith("G4F_CORE_")}
        env["G4F_CORE_STATE_DIR"] = str(tmp_path)
        done = subprocess.run(
            [sys.executable, "-c", code.replace(TOUR_URL, emulator.url)],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            timeout=120,
        )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "Option(" not in out  # declarations, not reprs
    assert "  temperature: float = 0.4  > 0\n" in out
    replies = [line for line in out.splitlines() if "This is the H2o emulator" in line]
    assert len(replies) == 3  # complete(), the stream (ended by its own line), create()
    assert out.endswith("\n")
    assert done.stderr == ""

"""State shared between processes: ``g4f-core check`` records written by many at once.

Every install on a machine shares one state folder, and CI runs checks in parallel, so
eight processes recording twenty outcomes each at the same moment must leave all 160
records, each whole. Real child processes, started together behind a go-file.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from promises import Promises, promise_fixture  # noqa: F401

from g4f_core.kit import checks as checks_store

WORKER = """
import os, sys, time
from g4f_core.kit import checks
from g4f_core.testing.report import PASS, Check, Report

worker, go = int(sys.argv[1]), sys.argv[2]
ends = time.monotonic() + 30
while not os.path.exists(go) and time.monotonic() < ends:
    time.sleep(0.001)
for n in range(int(sys.argv[3])):
    checked = (Check("declarations", PASS, ""),)
    report = Report(f"P{n}", "emulator", checked, None, f"d{worker}", "1")
    checks.record(report, install=f"/install/{worker % 2}")
"""

PROCESSES, EACH = 8, 20


def test_eight_processes_recording_at_once_keep_every_record_whole(
    tmp_path: Path, promise: Promises
) -> None:
    state = tmp_path / "shared-state"
    go = tmp_path / "go"
    script = tmp_path / "worker.py"
    script.write_text(WORKER, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("G4F_CORE_")}
    env["G4F_CORE_STATE_DIR"] = str(state)
    rec = promise("P12").record(
        f"{PROCESSES} processes x {EACH} check records at once", expected=PROCESSES * EACH
    )
    workers = [
        subprocess.Popen(
            [sys.executable, str(script), str(n), str(go), str(EACH)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for n in range(PROCESSES)
    ]
    time.sleep(0.5)  # let every interpreter start and wait at the go-file
    go.write_text("go")
    errors = []
    for worker in workers:
        _, err = worker.communicate(timeout=120)
        if worker.returncode:
            errors.append(err.decode(errors="replace")[-500:])
    found = checks_store.records({"G4F_CORE_STATE_DIR": str(state)})
    keys = {(name, entry["install"]) for name, entry in found}
    files = list((state / "checks").glob("*.json"))
    torn = [f for f in files if not _whole(f)]
    leftovers = [f.name for f in (state / "checks").iterdir() if not f.name.endswith(".json")]
    rec.update(kept=len(keys), torn=len(torn), leftovers=len(leftovers), errors=len(errors))
    rec["passed"] = len(keys) == PROCESSES * EACH and not torn and not errors
    assert errors == []
    assert len(keys) == PROCESSES * EACH
    assert torn == [] and leftovers == []


def _whole(path: Path) -> bool:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        return False
    return isinstance(data, dict) and isinstance(data.get("check"), dict)


def test_the_same_record_written_by_many_processes_is_one_whole_file(
    tmp_path: Path, promise: Promises
) -> None:
    """Writers of the same provider and install replace each other's record, whole."""
    state = tmp_path / "shared-state"
    go = tmp_path / "go"
    script = tmp_path / "worker.py"
    script.write_text(WORKER.replace('f"d{worker}"', '"same"'), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("G4F_CORE_")}
    env["G4F_CORE_STATE_DIR"] = str(state)
    workers = [
        subprocess.Popen(
            [sys.executable, str(script), str(2 * n), str(go), "30"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for n in range(4)
    ]
    time.sleep(0.5)
    go.write_text("go")
    codes = []
    for worker in workers:
        worker.communicate(timeout=120)
        codes.append(worker.returncode)
    files = list((state / "checks").glob("*.json"))
    promise("P12").record(
        "4 processes x 30 writes of the same records",
        expected=30,
        kept=len(files),
        torn=sum(not _whole(f) for f in files),
        passed=codes == [0] * 4 and len(files) == 30 and all(_whole(f) for f in files),
    )
    assert codes == [0] * 4
    assert len(files) == 30
    assert all(_whole(f) for f in files)

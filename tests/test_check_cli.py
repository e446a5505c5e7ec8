"""``g4f-core check``: table, verdict and exit status; the last check in ``g4f-core providers``."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

import pytest
from plugin_kit import make_dist, provider_source

from g4f_core import cli
from g4f_core.kit import checks as checks_store
from g4f_core.plugins.registry import Registry
from g4f_core.testing import CHECKS
from g4f_core.testing.report import PASS, Check, Report

UNREACHABLE = {"G4F_CORE_H2O_URL": "http://127.0.0.1:9"}


@pytest.fixture(autouse=True)
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Check outcomes go to a folder of the test's own, never to the user's cache."""
    folder = tmp_path / "state"
    monkeypatch.setenv("G4F_CORE_STATE_DIR", str(folder))
    return folder


def own(environ: dict[str, str] | None = None) -> Registry:
    """This project's own distribution (H2o) only: never the developer's other plugins."""
    return Registry([metadata.distribution("g4f-core")], environ=environ or {})


def run(registry: Registry, *argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(list(argv), registry=registry, stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def rows(text: str) -> list[list[str]]:
    return [re.split(r" {2,}", line.strip()) for line in text.splitlines() if line.strip()]


# -- check ------------------------------------------------------------------------------------


def test_check_h2o_on_its_emulator_prints_every_check_and_passes() -> None:
    code, out, err = run(own(), "check", "H2o", "--emulator")
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0].startswith("H2o (g4f-core 0.1.0) against its emulator (http://localhost:")
    table = rows("\n".join(lines[1:-1]))
    assert table[0] == ["CHECK", "RESULT", "TIME", "DETAIL"]
    assert [(row[0], row[1]) for row in table[1:]] == [(name, "pass") for name, _ in CHECKS]
    assert lines[-1] == "verdict: PASS (10 passed, 0 failed, 0 skipped)"


def test_check_json_has_one_report_per_provider() -> None:
    code, out, _ = run(own(UNREACHABLE), "check", "H2o", "--json")
    assert code == 1
    data = json.loads(out)
    assert set(data) == {"passed", "reports", "errors"}
    assert (data["passed"], data["errors"]) == (False, [])
    [report] = data["reports"]
    assert set(report) == {
        "provider",
        "distribution",
        "version",
        "mode",
        "target",
        "passed",
        "checks",
    }
    assert (report["provider"], report["mode"], report["target"]) == (
        "H2o",
        "live",
        "http://127.0.0.1:9",
    )
    assert [c["name"] for c in report["checks"]] == [name for name, _ in CHECKS]
    assert set(report["checks"][0]) == {"name", "title", "status", "detail", "seconds"}


def test_check_against_an_unreachable_endpoint_says_so_and_exits_1() -> None:
    env = {**os.environ, **UNREACHABLE}
    result = subprocess.run(
        [sys.executable, "-m", "g4f_core", "check", "H2o"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    [endpoint] = [line for line in result.stdout.splitlines() if line.startswith("  endpoint ")]
    assert "fail" in endpoint
    assert "the live endpoint http://127.0.0.1:9 is unreachable" in endpoint
    assert "connection refused; is the server running?" in endpoint
    assert result.stdout.rstrip().endswith("verdict: FAIL (5 passed, 1 failed, 4 skipped)")


def test_an_unknown_name_cannot_be_checked_and_fails() -> None:
    code, out, _ = run(own(), "check", "NoSuch", "--emulator")
    assert code == 1
    assert out.startswith("NoSuch: could not be checked: no provider named 'NoSuch'")


def test_with_no_names_every_plugin_that_failed_to_load_fails_the_check(
    site: Path, registry_for: Callable[..., Registry]
) -> None:
    make_dist(site, "broken-dist", "0.1", {"Broken": provider_source(header="raise OSError")})
    code, out, _ = run(registry_for(), "check", "--emulator")
    assert code == 1
    assert "Broken: could not be checked: broken-dist: failed to import: OSError" in out


def test_with_nothing_installed_there_is_nothing_to_pass() -> None:
    code, out, _ = run(Registry([], environ={}), "check")
    assert (code, out.strip()) == (1, "no providers installed: nothing to check")


def test_an_unsupported_contract_version_is_a_load_failure_with_a_clear_message(
    site: Path, registry_for: Callable[..., Registry]
) -> None:
    make_dist(
        site, "future-dist", "3.0", {"Future": provider_source(header="contract_version = 2")}
    )
    registry = registry_for()
    reason = (
        "invalid provider: targets provider contract version 2; this g4f-core supports 1: "
        "upgrade g4f-core or use a release of the provider for it"
    )
    assert [(f.name, f.error) for f in registry.failures()] == [("Future", reason)]
    _, out, _ = run(registry, "providers")
    assert f"Future (future-dist): {reason}" in out
    code, out, _ = run(registry, "check", "Future")
    assert code == 1
    assert "Future: could not be checked: provider 'Future' is installed but failed to load" in out
    assert "contract version 2" in out


# -- the last check, in providers ---------------------------------------------------------------


def test_providers_has_no_last_check_until_a_check_ran() -> None:
    _, out, _ = run(own(), "providers")
    assert rows(out)[0] == ["NAME", "MODELS", "STREAM", "AUTH", "WORKING", "SOURCE"]
    _, out, _ = run(own(), "providers", "--json")
    [h2o] = json.loads(out)["providers"]
    assert h2o["last_check"] is None


def test_a_check_is_recorded_and_shown_by_providers(state: Path) -> None:
    registry = own(UNREACHABLE)
    assert run(registry, "check", "H2o")[0] == 1
    _, out, _ = run(registry, "providers", "--json")
    [h2o] = json.loads(out)["providers"]
    last = h2o["last_check"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", last.pop("at"))
    assert last == {
        "outcome": "fail",
        "mode": "live",
        "passed": 5,
        "failed": 1,
        "skipped": 4,
        "failed_checks": ["endpoint"],
        "version": "0.1.0",
        "install": checks_store.install_of(registry.get("H2o")),
    }
    _, out, _ = run(registry, "providers")
    header, row = rows(out)[:2]
    assert header[-1] == "LAST CHECK"
    assert re.fullmatch(r"fail live \d{4}-\d\d-\d\d \d\d:\d\dZ", row[-1])
    assert len(list((state / "checks").glob("g4f-core_H2o-*.json"))) == 1


def test_the_install_a_check_came_from_is_shown_and_others_are_ignored(state: Path) -> None:
    registry = own(UNREACHABLE)
    info = registry.get("H2o")
    assert run(registry, "check", "H2o")[0] == 1
    _, out, _ = run(registry, "show", "H2o")
    [line] = [row for row in out.splitlines() if row.startswith("last check")]
    assert line.endswith(f"from {checks_store.install_of(info)}")
    assert "providers" in info.module.__file__  # type: ignore[attr-defined]
    # The same provider checked by another clone on this machine, sharing the cache folder:
    report = Report("H2o", "emulator", (Check("declarations", PASS, ""),), None, "g4f-core", "0.1")
    checks_store.record(report, install="/elsewhere/clone/providers (python /elsewhere/.venv)")
    assert len(checks_store.records()) == 2
    _, out, _ = run(registry, "providers", "--json")
    [h2o] = json.loads(out)["providers"]
    assert (h2o["last_check"]["outcome"], h2o["last_check"]["mode"]) == ("fail", "live")
    here = checks_store.install_of(info)
    [mine] = [p for p in (state / "checks").glob("*.json") if json.dumps(here) in p.read_text()]
    mine.unlink()
    _, out, _ = run(registry, "providers", "--json")
    assert json.loads(out)["providers"][0]["last_check"] is None  # only the other one's is left


def test_a_damaged_record_reads_as_never_checked(state: Path) -> None:
    assert run(own(UNREACHABLE), "check", "H2o")[0] == 1
    for path in (state / "checks").iterdir():
        path.write_text("{not json")
    code, out, _ = run(own(), "providers", "--json")
    assert code == 0
    assert json.loads(out)["providers"][0]["last_check"] is None


def test_a_record_that_cannot_be_written_is_a_warning(
    state: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state.parent.mkdir(exist_ok=True)
    state.write_text("a file where the folder should be")
    code, _, err = run(own(UNREACHABLE), "check", "H2o")
    assert code == 1
    assert err.startswith("warning: could not record the outcome:")


def test_providers_reads_the_record_without_importing_http_or_the_kit(state: Path) -> None:
    assert run(own(UNREACHABLE), "check", "H2o")[0] == 1
    probe = (
        "import sys\n"
        "from importlib import metadata\n"
        "from g4f_core import cli\n"
        "from g4f_core.plugins.registry import Registry\n"
        "cli.main(['providers'], registry=Registry([metadata.distribution('g4f-core')]))\n"
        "heavy = ('requests', 'urllib3', 'g4f_core.transport.client', 'g4f_core.testing')\n"
        "print('IMPORTED', [m for m in heavy if m in sys.modules])\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "LAST CHECK" in result.stdout
    assert "IMPORTED []" in result.stdout

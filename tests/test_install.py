"""The built wheel, installed into a fresh virtual environment, next to a user's own code.

A user project with a ``providers/`` package of its own once hid every built-in
provider, because the wheel installed them as a top-level ``providers`` package. The
wheel is built from this checkout (pip reuses its cache for the build backend),
installed with ``--no-deps`` into a venv that borrows this environment's
site-packages for requests, pluggy and attrs, and run from a folder holding such a
package.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from collections.abc import Sequence
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
#: What the wheel is built from: the distribution's own files, nothing of the working tree.
SOURCES = ("pyproject.toml", "README.md", "g4f_core", "providers")
LIMIT = 300  # seconds any one step may take on a loaded machine
PIP = (sys.executable, "-m", "pip", "--disable-pip-version-check")


def _run(
    argv: Sequence[str | Path], *, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(arg) for arg in argv],
        capture_output=True,
        text=True,
        timeout=LIMIT,
        check=False,
        cwd=cwd,
        env=env,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel built from this checkout's distribution files."""
    base = tmp_path_factory.mktemp("wheel")
    source = base / "src"
    source.mkdir()
    for name in SOURCES:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(path, source / name)
    _run([*PIP, "wheel", "--no-deps", "--quiet", "--wheel-dir", base / "dist", source])
    [built] = (base / "dist").glob("g4f_core-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The python of a fresh venv with the wheel installed."""
    venv = tmp_path_factory.mktemp("venv")
    _run([sys.executable, "-m", "venv", "--without-pip", venv])
    python = venv / "bin" / "python"
    purelib = _run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"])
    # The dependencies come from this environment; its .pth files (our own editable
    # install among them) are not processed from a directory added this way.
    deps = Path(purelib.stdout.strip()) / "_g4f_test_dependencies.pth"
    deps.write_text(sysconfig.get_paths()["purelib"] + "\n", encoding="utf-8")
    _run([*PIP, "--python", python, "install", "--no-deps", "--no-index", "--quiet", wheel])
    return python


@pytest.fixture
def user_project(tmp_path: Path) -> Path:
    """A folder with the user's own ``providers`` package, as a project might have."""
    (tmp_path / "providers").mkdir()
    (tmp_path / "providers" / "__init__.py").write_text("USERS_OWN = True\n", encoding="utf-8")
    return tmp_path


def _environment(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("G4F_CORE_", "PYTHON"))}
    return {**env, "PYTHONDONTWRITEBYTECODE": "1", **extra}


def test_the_wheel_installs_no_top_level_providers_package(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        tops = {name.split("/", 1)[0] for name in archive.namelist()}
    assert "providers" not in tops
    assert {"g4f_core", "g4f_core_providers"} <= tops


def test_h2o_is_listed_next_to_a_user_package_named_providers(
    installed: Path, user_project: Path
) -> None:
    where = "import g4f_core, providers; print(providers.__file__, g4f_core.__file__)"
    probe = _run([installed, "-c", where], cwd=user_project, env=_environment())
    users, core = probe.stdout.split()
    assert Path(users).is_relative_to(user_project)  # the user's package really is the one seen
    assert Path(core).is_relative_to(installed.parent.parent)  # and g4f_core is the wheel's
    for how, command, env in (
        ("python -m", [installed, "-m", "g4f_core"], _environment()),
        ("console script", [installed.parent / "g4f-core"], _environment(PYTHONPATH=".")),
    ):
        listed = json.loads(
            _run([*command, "providers", "--json"], cwd=user_project, env=env).stdout
        )
        assert [p["name"] for p in listed["providers"]] == ["H2o"], how
        assert listed["failures"] == [], how
        assert listed["providers"][0]["entry_point"] == "H2o = g4f_core_providers.h2o", how

"""``g4f-core new-provider``: names, refusals, and a new distribution that works at once.

The end-to-end tests install the scaffold the way ``pip install -e`` would (its
``.dist-info`` in a site folder, its source folder importable) without touching the
environment, then run ``g4f-core providers`` and ``pytest`` on it in subprocesses.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from subprocess import CompletedProcess

import pytest
from plugin_kit import make_dist

from g4f_core import InvalidRequestError, cli
from g4f_core.kit.scaffold import Names, new_provider
from g4f_core.plugins.registry import Registry

NAME, MODULE, DIST = "KitAcme", "g4f_kit_acme", "g4f-kit-acme"


def run_cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(list(argv), registry=Registry([], environ={}), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


# -- names ----------------------------------------------------------------------------------


def test_every_name_is_derived_from_the_provider_name() -> None:
    names = Names.from_name("AcmeChat")
    assert (names.module, names.dist, names.cls, names.slug, names.env) == (
        "g4f_acme_chat",
        "g4f-acme-chat",
        "AcmeChat",
        "acme-chat",
        "G4F_CORE_ACMECHAT_URL",
    )


@pytest.mark.parametrize(
    ("name", "module", "cls"),
    [("HTTPBot", "g4f_http_bot", "HttpBot"), ("my-bot.v2", "g4f_my_bot_v2", "MyBotV2")],
)
def test_acronyms_dashes_and_dots_give_python_names(name: str, module: str, cls: str) -> None:
    names = Names.from_name(name)
    assert (names.module, names.cls) == (module, cls)
    assert names.module.isidentifier()


@pytest.mark.parametrize("name", ["", "9lives", "acme chat", "acme/chat", "_acme", "x" * 61])
def test_a_name_that_is_not_a_provider_name_is_refused(name: str, tmp_path: Path) -> None:
    with pytest.raises(InvalidRequestError):
        new_provider(name, tmp_path / "out")
    assert not (tmp_path / "out").exists()


# -- writing ----------------------------------------------------------------------------------


def test_it_writes_a_complete_distribution_and_nothing_else(tmp_path: Path) -> None:
    files = new_provider("AcmeChat", tmp_path / "x")
    root = tmp_path / "x"
    assert [p.relative_to(root).as_posix() for p in files] == [
        "README.md",
        "conftest.py",
        "g4f_acme_chat/__init__.py",
        "g4f_acme_chat/py.typed",
        "g4f_acme_chat/server.py",
        "pyproject.toml",
        "tests/test_g4f_acme_chat.py",
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x"]  # no staging folder left
    pyproject = (root / "pyproject.toml").read_text()
    assert '[project.entry-points."g4f_core.providers"]\n"AcmeChat" = "g4f_acme_chat"' in pyproject
    assert "{{" not in "".join(p.read_text() for p in files)


def test_an_existing_directory_is_never_overwritten(tmp_path: Path) -> None:
    target = tmp_path / "x"
    target.mkdir()
    (target / "mine.txt").write_text("keep")
    with pytest.raises(FileExistsError, match="already exists"):
        new_provider("AcmeChat", target)
    assert [p.name for p in target.iterdir()] == ["mine.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x"]


def test_the_command_writes_and_says_what_to_do_next(tmp_path: Path) -> None:
    code, out, err = run_cli("new-provider", "AcmeChat", "--dir", str(tmp_path / "x"))
    assert (code, err) == (0, "")
    assert f"pip install -e {tmp_path / 'x'}" in out
    assert "g4f-core check AcmeChat --emulator" in out


def test_the_command_defaults_to_a_folder_named_after_the_distribution(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert run_cli("new-provider", "AcmeChat")[0] == 0
    assert (tmp_path / "g4f-acme-chat" / "pyproject.toml").is_file()


def test_the_command_refuses_an_existing_directory_and_a_bad_name(tmp_path: Path) -> None:
    (tmp_path / "x").mkdir()
    code, out, err = run_cli("new-provider", "AcmeChat", "--dir", str(tmp_path / "x"))
    assert (code, out) == (1, "")
    assert err.startswith("error: ") and "already exists" in err
    code, _, err = run_cli("new-provider", "9lives", "--dir", str(tmp_path / "y"))
    assert code == 2
    assert "must start with a letter" in err


def test_the_generated_code_is_lint_clean(tmp_path: Path) -> None:
    root = tmp_path / "x"
    new_provider("AcmeChat", root)
    for command in (["check", "--no-cache", "."], ["format", "--check", "--no-cache", "."]):
        result = subprocess.run(
            [sys.executable, "-m", "ruff", *command],
            cwd=root,
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr


# -- end to end: installed, listed, tested -------------------------------------------------


@pytest.fixture(scope="module")
def scaffolded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The scaffold in ``x/`` and its install metadata in ``site/``, as pip would write it."""
    base = tmp_path_factory.mktemp("e2e")
    root, site = base / "x", base / "site"
    new_provider(NAME, root)
    site.mkdir()
    make_dist(site, DIST, "0.1.0", entry_points={NAME: MODULE})
    return root, site


def environment(*paths: Path, **extra: str) -> dict[str, str]:
    """The test's environment (no G4F_CORE_* left) with ``paths`` importable."""
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(map(str, paths)),
        "PYTHONDONTWRITEBYTECODE": "1",
        **extra,
    }


def run(*argv: str, env: dict[str, str], cwd: Path | None = None) -> CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *argv],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=120,
        check=False,
    )


def pytest_on(root: Path, env: dict[str, str], *extra: str) -> CompletedProcess[str]:
    """``pytest`` run from the distribution's folder, as its author would."""
    return run("-m", "pytest", "-q", "-p", "no:cacheprovider", *extra, env=env, cwd=root)


@pytest.fixture
def importable(scaffolded: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The scaffold's package importable in this process, and forgotten afterwards."""
    root, _ = scaffolded
    monkeypatch.syspath_prepend(str(root))
    yield root
    for name in [m for m in sys.modules if m == MODULE or m.startswith(f"{MODULE}.")]:
        del sys.modules[name]


def test_a_fresh_registry_finds_the_installed_scaffold(
    scaffolded: tuple[Path, Path], importable: Path
) -> None:
    registry = Registry.from_path([str(scaffolded[1])], environ={})
    assert registry.failures() == []
    info = registry.get(NAME)
    assert (info.distribution, info.models, info.supports_stream) == (
        DIST,
        ("kit-acme-large", "kit-acme-small"),
        True,
    )
    assert info.emulator is not None
    assert [opt.name for opt in info.options] == ["temperature", "max_tokens"]


def test_g4f_core_providers_lists_it(scaffolded: tuple[Path, Path]) -> None:
    root, site = scaffolded
    result = run("-m", "g4f_core", "providers", env=environment(root, site))
    assert result.returncode == 0, result.stderr
    [row] = [line for line in result.stdout.splitlines() if line.startswith(f"{NAME} ")]
    assert "kit-acme-large, kit-acme-small" in row and f"{DIST} 0.1.0" in row


def test_pytest_passes_on_the_new_distribution(scaffolded: tuple[Path, Path]) -> None:
    root, site = scaffolded
    result = pytest_on(root, environment(root, site))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "13 passed" in result.stdout


def test_its_tests_run_the_checks_against_a_live_endpoint_with_g4f_live(
    scaffolded: tuple[Path, Path], importable: Path
) -> None:
    root, site = scaffolded
    server_module = __import__(f"{MODULE}.server", fromlist=["KitAcmeEmulator"])
    with server_module.KitAcmeEmulator() as server:
        env = environment(root, site, G4F_CORE_KITACME_URL=server.url)
        result = pytest_on(root, env, "--g4f-live", "-k", "conformance")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "9 passed, 1 skipped" in result.stdout
    assert "needs the emulator" in result.stdout  # the skipped check says why


BREAKS: dict[str, tuple[Callable[[str], str], str]] = {
    "return a str": (
        lambda source: source.replace(
            source[source.index("def _create_completion(") : source.index("def _events(")],
            'def _create_completion(model, messages, stream, **kwargs):\n    return "text"\n\n\n',
        ),
        "_create_completion returned one str instead of yielding chunks",
    ),
    "yield bytes": (
        lambda source: source.replace("yield _text(data)", "yield _text(data).encode()"),
        "_create_completion yielded bytes instead of str",
    ),
}


@pytest.mark.parametrize("how", list(BREAKS))
def test_breaking_the_contract_fails_its_suite_saying_what_is_wrong(
    how: str, scaffolded: tuple[Path, Path], tmp_path: Path
) -> None:
    root, site = scaffolded
    broken = tmp_path / "broken"
    shutil.copytree(root, broken)
    provider = broken / MODULE / "__init__.py"
    edit, message = BREAKS[how]
    source = provider.read_text()
    provider.write_text(edit(source))
    assert provider.read_text() != source
    result = pytest_on(broken, environment(broken, site))
    assert result.returncode == 1
    assert "FAILED tests/test_g4f_kit_acme.py::test_conformance[streaming]" in result.stdout
    assert f"{NAME}: a streaming call yields str chunks as they arrive: {message}" in result.stdout

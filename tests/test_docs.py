"""CONTRIBUTING.md against the code: hooks, the contract table, checks, and the tutorial, run.

Blocks of the guide whose first line is ``# file: PATH`` are its tutorial: blocks naming
the same path are joined in order, written out as a distribution and installed into a
fresh registry, then called over loopback and put through the conformance suite.
"""

from __future__ import annotations

import inspect
import re
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import g4f_core
from g4f_core.plugins import hookspecs
from g4f_core.plugins.provider import ProviderInfo
from g4f_core.plugins.registry import Registry
from g4f_core.testing import CHECKS, run_conformance

GUIDE = Path(__file__).resolve().parent.parent / "CONTRIBUTING.md"
TEXT = GUIDE.read_text(encoding="utf-8")
_BLOCK = re.compile(r"^```(\w*)\n(.*?)^```", re.MULTILINE | re.DOTALL)
_FILE = re.compile(r"# file: (\S+)\n")


def blocks(language: str) -> list[str]:
    return [body for lang, body in _BLOCK.findall(TEXT) if lang == language]


def section(title: str) -> str:
    """The text of the ``##`` section with this title, up to the next ``##`` heading."""
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## )", TEXT, re.MULTILINE | re.DOTALL)
    assert match, f"CONTRIBUTING.md has no section {title!r}"
    return match.group(1)


def tutorial_files() -> dict[str, str]:
    files: dict[str, list[str]] = {}
    for _, body in _BLOCK.findall(TEXT):
        head = _FILE.match(body)
        if head:
            files.setdefault(head.group(1), []).append(body[head.end() :])
    return {path: "\n\n".join(parts) for path, parts in files.items()}


# -- the hook reference --------------------------------------------------------------------


def hookspec_functions() -> dict[str, Callable[..., Any]]:
    return {
        name: fn
        for name, fn in vars(hookspecs).items()
        if callable(fn) and hasattr(fn, f"{hookspecs.PROJECT}_spec")
    }


def test_every_hookspec_is_documented_with_its_arguments() -> None:
    hooks = section("Hooks")
    specs = hookspec_functions()
    assert specs, "no hookspecs found: did the marker's attribute name change?"
    for name, fn in specs.items():
        args = ", ".join(inspect.signature(fn).parameters)
        assert f"### `{name}({args})`" in hooks, f"{name}({args}) is not in the hook reference"


def test_the_hook_reference_names_no_hook_that_does_not_exist() -> None:
    mentioned = set(re.findall(r"\bg4f_core_[a-z_]+(?=\()", section("Hooks")))
    assert mentioned <= set(hookspec_functions())


def test_every_call_event_field_is_documented() -> None:
    hooks = section("Hooks")
    for field in g4f_core.CallEvent.__attrs_attrs__:
        assert f"`{field.name}`" in hooks, f"CallEvent.{field.name} is not documented"


# -- the provider contract table -----------------------------------------------------------


class _Recorder:
    """A provider whose every attribute read is recorded."""

    def __init__(self, values: dict[str, object]) -> None:
        object.__setattr__(self, "_values", values)
        object.__setattr__(self, "read", [])

    def __getattribute__(self, name: str) -> Any:
        if name in ("read", "_values", "__class__", "__dict__"):
            return object.__getattribute__(self, name)
        object.__getattribute__(self, "read").append(name)
        values = object.__getattribute__(self, "_values")
        if name in values:
            return values[name]
        raise AttributeError(name)


def attributes_read_by_from_module() -> set[str]:
    def _create_completion(model: str, messages: list[Any], stream: bool) -> Iterator[str]:
        yield "x"

    base = {"_create_completion": _create_completion, "supports_stream": True, "needs_auth": False}
    read: set[str] = set()
    for models in ({"models": ["m"]}, {"model": ["m"]}):  # `model` is read only without `models`
        recorder = _Recorder({**base, **models})
        ProviderInfo.from_module(recorder, name="Recorded")
        read |= {name for name in recorder.read if not name.startswith("__")}
    return read


def test_the_contract_table_lists_exactly_the_attributes_from_module_reads() -> None:
    rows = [line for line in section("The provider module contract").splitlines()]
    first_cells = [row.split("|")[1] for row in rows if row.startswith("| `")]
    documented = {name for cell in first_cells for name in re.findall(r"`(\w+)`", cell)}
    assert documented == attributes_read_by_from_module()


# -- the conformance checks ----------------------------------------------------------------


def test_every_conformance_check_is_documented() -> None:
    table = section("Testing with the conformance suite")
    documented = re.findall(r"^\| `([\w-]+)` \|", table, re.MULTILINE)
    assert documented == [name for name, _ in CHECKS]


# -- the tutorial, executed ----------------------------------------------------------------


def test_every_python_block_compiles() -> None:
    for number, body in enumerate(blocks("python")):
        compile(body, f"CONTRIBUTING.md python block {number}", "exec")


@pytest.fixture
def tutorial(site: Path) -> Registry:
    """The tutorial's files, installed as a distribution into a fresh registry."""
    files = tutorial_files()
    assert {"acme_chat.py", "pyproject.toml", "acme_chat_emulator.py"} <= set(files)
    for path, source in files.items():
        target = site / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(textwrap.dedent(source), encoding="utf-8")
    install_metadata(site, files["pyproject.toml"])
    return Registry.from_path([str(site)], environ={})


def install_metadata(site: Path, pyproject: str) -> None:
    """The ``.dist-info`` pip would write for this pyproject (name, version, entry points).

    Read with regular expressions rather than tomllib, which Python 3.10 lacks.
    """
    name = re.search(r'^name = "([^"]+)"', pyproject, re.MULTILINE)
    version = re.search(r'^version = "([^"]+)"', pyproject, re.MULTILINE)
    group = re.search(
        r'^\[project\.entry-points\."g4f_core\.providers"\]\n(.*?)(?=^\[|\Z)',
        pyproject,
        re.MULTILINE | re.DOTALL,
    )
    assert name and version and group, "the pyproject lacks a name, version or entry point"
    entries = re.findall(r'^"?([\w.-]+)"?\s*=\s*"([^"]+)"', group.group(1), re.MULTILINE)
    info = site / f"{name.group(1).replace('-', '_')}-{version.group(1)}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {name.group(1)}\nVersion: {version.group(1)}\n",
        encoding="utf-8",
    )
    lines = "".join(f"{key} = {value}\n" for key, value in entries)
    (info / "entry_points.txt").write_text(f"[g4f_core.providers]\n{lines}", encoding="utf-8")


def test_the_tutorial_provider_loads_as_the_guide_says(tutorial: Registry) -> None:
    assert tutorial.failures() == []
    info = tutorial.get("AcmeChat")
    assert (info.models, info.supports_stream, info.needs_auth) == (
        ("acme-1", "acme-1-mini"),
        True,
        False,
    )
    assert info.params.endswith(
        "(model: Any, messages: Any, stream: Any, temperature: float = 0.5)"
    )
    assert info.params in TEXT  # the `g4f-core show` output quoted in the guide


def test_the_tutorial_provider_answers_over_loopback(
    tutorial: Registry, use_registry: Callable[[Registry], Registry]
) -> None:
    use_registry(tutorial)
    emulator = tutorial.get("AcmeChat").emulator
    assert emulator is not None
    server = emulator(host="localhost", port=0, token_delay=0.0)
    url = server.start()
    try:
        whole = g4f_core.complete("Hello there", provider="AcmeChat", base_url=url)
        with g4f_core.stream("Hello there", provider="acmechat", base_url=url) as chunks:
            parts = list(chunks)
    finally:
        server.stop()
    assert whole == "Acme says: Hello there"
    assert parts == ["Acme", " says:", " Hello", " there"]


def test_the_tutorial_provider_passes_the_conformance_suite(tutorial: Registry) -> None:
    report = run_conformance("AcmeChat", registry=tutorial)
    assert report.passed, report.format()
    assert report.count("skip") == 0


def test_the_tutorial_test_module_builds_its_tests(tutorial: Registry) -> None:
    namespace: dict[str, Any] = {}
    exec(compile(tutorial_files()["tests/test_acme_chat.py"], "tutorial test", "exec"), namespace)  # noqa: S102 - the guide's own code
    test = namespace["test_conformance"]
    marks = [mark for mark in getattr(test, "pytestmark", []) if mark.name == "parametrize"]
    assert marks and list(marks[0].args[1]) == [name for name, _ in CHECKS]


def test_the_recorder_sees_a_real_module_like_one() -> None:
    """The table test is only as good as the recorder: it must read like a module does."""
    values = {"supports_stream": True}
    recorder = _Recorder(values)
    assert getattr(recorder, "supports_stream", None) is True
    assert getattr(recorder, "missing", None) is None
    assert recorder.read == ["supports_stream", "missing"]

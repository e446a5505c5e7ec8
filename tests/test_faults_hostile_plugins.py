"""Plugins whose attributes fight back: reading them raises, they do not compare, they lie.

Discovery reads every attribute of a plugin, and any read can run the plugin's code: a
module ``__getattr__`` (the lazy optional-dependency pattern raises ImportError), a list
whose iteration raises, a name whose comparison raises, an exception that is not an
``Exception`` at all. Each must become that plugin's recorded failure while every other
provider, and every CLI command, keeps working. Declared option defaults must be shown as
JSON by ``providers --json``, so a default that cannot be (bytes, a set, NaN) is refused
when the plugin loads. A ``fork()`` while another thread is discovering must leave the
child a registry it can use, which only a child process can show.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from plugin_kit import make_dist, provider_source
from promises import Promises, promise_fixture  # noqa: F401

from g4f_core.cli import app as cli
from g4f_core.plugins.registry import Registry

GOOD = provider_source(models=["good-model"], body='yield "good"')

HOSTILE_HELPERS = """
class Hostile:
    def __init__(self, error):
        self.error = error
    def __iter__(self):
        raise self.error
    def __eq__(self, other):
        raise self.error
    __hash__ = None
    def __getattr__(self, name):
        raise self.error
    def __len__(self):
        raise self.error
    def __repr__(self):
        raise self.error


class RaisingList(list):
    def __iter__(self):
        raise ImportError("models need the optional dependency yaml")
"""


def hostile(**attrs: str) -> str:
    """A provider module whose listed attributes are source expressions (Hostile is defined)."""
    body = [textwrap.dedent(HOSTILE_HELPERS)]
    base = {
        "models": "['m1']",
        "supports_stream": "True",
        "needs_auth": "False",
    }
    base.update(attrs)
    body += [f"{name} = {value}" for name, value in base.items()]
    body.append("def _create_completion(model, messages, stream, **kwargs):\n    yield 'x'\n")
    return "\n".join(body) + "\n"


LAZY_MODULE = provider_source(
    footer="""
        def __getattr__(name):
            raise ImportError(f"{name} needs the optional dependency numpy")
    """
)
LAZY_VALUE = provider_source(
    models=["lazy-value-model"],
    body='yield "lazy value"',
    header=HOSTILE_HELPERS + "\nnumpy = Hostile(ImportError('numpy is not installed'))",
)

BROKEN: dict[str, str] = {
    "LazyModuleGetattr": LAZY_MODULE,
    "ModelsIterationRaises": hostile(models="Hostile(RuntimeError('iteration'))"),
    "ModelsDictItemsRaise": hostile(
        models="type('D', (dict,), {'items': lambda self: 1 / 0})({'m': 'm'})"
    ),
    "ContractCompareRaises": hostile(contract_version="Hostile(TypeError('compare'))"),
    "UrlIsHostile": hostile(url="Hostile(ImportError('url'))"),
    "OptionsIterationRaise": hostile(options="Hostile(ImportError('options'))"),
    "CreateCompletionIsHostile": hostile().replace("def _create_completion(", "def _unused(")
    + "_create_completion = type('C', (), {'__call__': lambda s: None, "
    "'__getattr__': lambda s, n: (_ for _ in ()).throw(ImportError(n))})()\n",
    "RaisesBaseException": "class Boom(BaseException):\n    pass\n\nraise Boom('at import')\n",
    "RaisesGeneratorExit": "raise GeneratorExit('at import')\n",
    "UnprintableError": (
        "class Odd(Exception):\n    def __str__(self):\n        raise RuntimeError('no text')\n\n"
        "raise Odd()\n"
    ),
    "DefaultIsBytes": provider_source(options="[Option('blob', str, b'raw')]"),
    "DefaultIsASet": provider_source(options="[Option('tags', list, {'a', 'b'})]"),
    "DefaultIsNaN": provider_source(options="[Option('t', float, float('nan'))]"),
    "DictDefaultIsInfinite": provider_source(options="{'t': float('inf')}"),
    "ChoicesHoldBytes": provider_source(options="[Option('c', str, 'a', choices=['a', b'b'])]"),
    "HelpHasLoneSurrogate": provider_source(options="[Option('h', str, 'a', help='\\ud800')]"),
}

REGISTERING_HOOK_BASE_EXCEPTION = """
from g4f_core import hookimpl

class Stop(BaseException):
    pass

@hookimpl
def g4f_core_register_providers(register):
    raise Stop("the hook gave up")
"""

REGISTERING_HOSTILE_OBJECT = (
    "from g4f_core import hookimpl\n"
    + HOSTILE_HELPERS
    + """
class Provider:
    name = "HookedHostile"
    models = RaisingList(["m"])
    supports_stream = True
    needs_auth = False
    def _create_completion(self, model, messages, stream):
        yield "x"

@hookimpl
def g4f_core_register_providers(register):
    register(Provider())
"""
)


#: Hostile only in ways that need not stop them: read as plain data, they load.
TOLERATED: dict[str, str] = {
    "LazyValue": LAZY_VALUE,
    "StrSubclassModel": hostile(
        models="[type('S', (str,), {'__eq__': lambda s, o: 1 / 0, '__hash__': lambda s: 1 / 0})"
        "('m')]"
    ),
}


@pytest.fixture
def world(site: Path, registry_for: Callable[..., Registry]) -> Registry:
    make_dist(site, "good-dist", "1.0", {"Good": GOOD})
    for name, source in TOLERATED.items():
        make_dist(site, f"{name.lower()}-dist", "1.0", {name: source})
    for name, source in BROKEN.items():
        make_dist(site, f"{name.lower()}-dist", "1.0", {name: source})
    make_dist(site, "hookbase-dist", "1.0", {"HookBase": REGISTERING_HOOK_BASE_EXCEPTION})
    make_dist(site, "hookobj-dist", "1.0", {"HookObj": REGISTERING_HOSTILE_OBJECT})
    return registry_for()


EXPECTED_BROKEN = sorted([*BROKEN, "HookBase", "HookedHostile"])


def run(registry: Registry, *argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(list(argv), registry=registry, stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def test_hostile_attributes_are_each_the_plugins_own_recorded_failure(
    world: Registry, promise: Promises
) -> None:
    rec = promise("P5").record(
        "F35/F36 hostile attributes: raising reads, iteration, comparison, BaseException, "
        "defaults that are not JSON",
        good_expected=1 + len(TOLERATED),
        good_loaded=0,
        broken_expected=len(EXPECTED_BROKEN),
        broken_reported=0,
        discovery_exceptions=1,
    )
    providers = [p.name for p in world.providers()]
    failures = {f.name: f.error for f in world.failures()}
    rec.update(
        good_loaded=len(providers),
        broken_reported=sum(1 for name in EXPECTED_BROKEN if name in failures),
        discovery_exceptions=0,
    )
    assert providers == ["Good", "LazyValue", "StrSubclassModel"]
    assert sorted(failures) == EXPECTED_BROKEN
    assert type(world.get("StrSubclassModel").models[0]) is str
    assert "ImportError" in failures["LazyModuleGetattr"]
    assert "numpy" in failures["LazyModuleGetattr"]
    assert "Boom" in failures["RaisesBaseException"]
    assert "GeneratorExit" in failures["RaisesGeneratorExit"]
    assert "Odd" in failures["UnprintableError"]
    assert "Stop" in failures["HookBase"]
    for name in ("DefaultIsBytes", "DefaultIsASet", "DefaultIsNaN", "DictDefaultIsInfinite"):
        assert "default" in failures[name], failures[name]
    assert "models" in failures["ModelsIterationRaises"]
    assert "url" in failures["UrlIsHostile"]


def test_every_cli_command_keeps_working_beside_hostile_plugins(world: Registry) -> None:
    code, out, err = run(world, "providers", "--json")
    assert (code, err) == (0, "")
    data = json.loads(out)
    assert [p["name"] for p in data["providers"]] == ["Good", "LazyValue", "StrSubclassModel"]
    assert sorted(f["name"] for f in data["failures"]) == EXPECTED_BROKEN
    code, out, _ = run(world, "providers")
    assert code == 0
    assert "Good" in out and "plugin problem(s)" in out
    assert run(world, "show", "Good")[0] == 0
    assert run(world, "show", "Good", "--json")[0] == 0
    assert run(world, "models")[0] == 0
    assert run(world, "chat", "-p", "Good", "Hi")[:2] == (0, "good\n")
    assert run(world, "chat", "-p", "LazyValue", "Hi")[:2] == (0, "lazy value\n")
    code, _, err = run(world, "show", "LazyModuleGetattr")
    assert code == 1
    assert err.startswith("error: provider 'LazyModuleGetattr' is installed but failed to load")


REGISTERING_BESIDE_A_LAZY_GLOBAL = (
    "from g4f_core import hookimpl\n"
    + HOSTILE_HELPERS
    + """
numpy = Hostile(ImportError("numpy is not installed"))  # a lazy optional dependency

class Broken:
    name = "RegisteredBroken"
    models = RaisingList(["m"])
    supports_stream = True
    needs_auth = False
    def _create_completion(self, model, messages, stream):
        yield "x"

class Fine:
    name = "RegisteredFine"
    models = ["fine-model"]
    supports_stream = True
    needs_auth = False
    def _create_completion(self, model, messages, stream):
        yield "fine"

class Stop(BaseException):
    pass

class Exploding:
    name = "RegisteredExploding"
    def __getattr__(self, name):
        raise Stop(name)

@hookimpl
def g4f_core_register_providers(register):
    register(Broken())
    register(Exploding())
    register(Fine())
"""
)


def test_a_register_hook_beside_a_lazy_global_registers_each_provider_on_its_own(
    site: Path, registry_for: Callable[..., Registry]
) -> None:
    make_dist(site, "family-dist", "1.0", {"Family": REGISTERING_BESIDE_A_LAZY_GLOBAL})
    registry = registry_for()
    failures = {f.name: f.error for f in registry.failures()}
    assert [p.name for p in registry.providers()] == ["RegisteredFine"]
    assert sorted(failures) == ["RegisteredBroken", "RegisteredExploding"]  # not "Family"
    assert "yaml" in failures["RegisteredBroken"]
    assert "Stop" in failures["RegisteredExploding"]
    assert run(registry, "chat", "-p", "RegisteredFine", "Hi")[:2] == (0, "fine\n")


def test_a_keyboard_interrupt_at_import_is_not_swallowed_by_discovery(
    site: Path, registry_for: Callable[..., Registry]
) -> None:
    make_dist(site, "good-dist", "1.0", {"Good": GOOD})
    make_dist(site, "ctrlc-dist", "1.0", {"CtrlC": "raise KeyboardInterrupt\n"})
    with pytest.raises(KeyboardInterrupt):
        registry_for().providers()


FORK_CHILD = """
import os, sys, threading, time
from g4f_core.plugins.registry import Registry

sys.path.insert(0, sys.argv[1])
registry = Registry.from_path([sys.argv[1]], environ={})
started = threading.Event()

def discover():
    started.set()
    registry.providers()

thread = threading.Thread(target=discover, daemon=True)
thread.start()
started.wait(5)
time.sleep(0.3)  # the slow plugin is being imported now, under the registry's lock
pid = os.fork()
if pid == 0:
    try:
        names = [p.name for p in registry.providers()]
        os.write(1, ("child " + ",".join(names) + "\\n").encode())
    finally:
        os._exit(0)
ends = time.monotonic() + 15
while os.waitpid(pid, os.WNOHANG) == (0, 0):
    if time.monotonic() > ends:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        print("child hung")
        sys.exit(3)
    time.sleep(0.05)
status = 0
thread.join(10)
print("parent", ",".join(p.name for p in registry.providers()), status)
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork() is POSIX only")
def test_fork_during_discovery_in_another_thread_leaves_the_child_a_working_registry(
    site: Path, tmp_path: Path, promise: Promises
) -> None:
    slow = provider_source(models=["slow-model"], header="import time\ntime.sleep(1.5)")
    make_dist(site, "slow-dist", "1.0", {"Slow": slow})
    make_dist(site, "good-dist", "1.0", {"Good": GOOD})
    script = tmp_path / "fork_child.py"
    script.write_text(FORK_CHILD, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("G4F_CORE_")}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    rec = promise("P11").record("F40 fork() while another thread discovers", hung=True)
    try:
        done = subprocess.run(
            [sys.executable, "-W", "ignore", str(script), str(site)],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
    except subprocess.TimeoutExpired:
        pytest.fail("the forked child hung on the registry's lock")
    rec.update(hung=False, passed=done.returncode == 0)
    assert "child hung" not in done.stdout
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "child Good,Slow" in lines
    assert "parent Good,Slow 0" in lines

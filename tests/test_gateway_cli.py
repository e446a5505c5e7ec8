"""``g4f-core serve``: refusals before anything starts, and a complete offline gateway."""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import openai
import pytest
from plugin_kit import provider_source

from g4f_core import InvalidRequestError, Registry, cli
from g4f_core.gateway import make_gateway
from g4f_core.kit import checks

ROOT = Path(__file__).resolve().parent.parent


def run(argv: list[str], registry: Registry | None = None) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(argv, registry=registry or Registry([], environ={}), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def test_serving_beyond_loopback_without_a_key_is_refused_before_binding() -> None:
    code, _, err = run(["serve", "--host", "0.0.0.0", "--port", "0"])
    assert code == 2  # refused before any I/O: the flags ask for what may not be done
    assert err.startswith("error: refusing to serve on 0.0.0.0")
    assert "--api-key" in err and "G4F_CORE_API_KEY" in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("origin", ["*", "example.org"])
def test_a_cors_origin_that_is_not_exact_is_one_error_line(origin: str) -> None:
    code, _, err = run(["serve", "--port", "0", "--cors-origin", origin])
    assert code == 2 and err.startswith("error: ") and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("flag", "value", "says"),
    [
        ("--port", "99999", "--port must be <= 65535"),
        ("--port", "-1", "--port must be >= 0"),
        ("--port", "http", "--port takes an int"),
        ("--max-streams", "0", "--max-streams must be >= 1"),
        ("--max-streams", "1e9", "--max-streams takes an int"),
        ("--max-streams", "100000", "--max-streams must be <= 4096"),
        ("--max-streams", "2.5", "--max-streams takes an int"),
    ],
)
def test_a_bad_port_or_max_streams_is_one_error_line_and_exit_2(
    flag: str, value: str, says: str
) -> None:
    code, out, err = run(["serve", f"{flag}={value}"])
    assert (code, out) == (2, "")
    assert err.startswith(f"error: {says}"), err
    assert err.count("\n") == 1


@pytest.mark.parametrize(
    ("variable", "value", "says"),
    [
        ("G4F_CORE_MAX_STREAMS", "inf", "G4F_CORE_MAX_STREAMS takes an int"),
        ("G4F_CORE_MAX_STREAMS", "-3", "G4F_CORE_MAX_STREAMS must be >= 1"),
        ("G4F_CORE_MAX_BODY_BYTES", "10", "G4F_CORE_MAX_BODY_BYTES must be >= 1024"),
    ],
)
def test_a_bad_number_in_the_gateways_environment_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, says: str
) -> None:
    monkeypatch.setenv(variable, value)
    code, out, err = run(["serve", "--port", "0"])
    assert (code, out) == (2, "")
    assert err.startswith(f"error: {says}"), err
    with pytest.raises(InvalidRequestError, match=variable):  # and under gunicorn alike
        make_gateway(Registry([], environ={}))


def test_a_busy_port_is_one_error_line_and_exit_1() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, out, err = run(["serve", "--port", str(port)])
    assert (code, out) == (1, "")
    assert err.startswith(f"error: cannot serve on 127.0.0.1:{port}: "), err
    assert err.count("\n") == 1


def test_a_missing_serve_extra_is_one_clear_error_line() -> None:
    program = (
        "import sys; sys.modules['waitress'] = None\n"  # as if waitress were not installed
        "from g4f_core.cli import main; sys.exit(main(['serve', '--port', '0']))"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("G4F_CORE_")}
    result = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, env=env, timeout=60
    )
    assert result.returncode == 1
    assert result.stderr == "error: g4f-core serve needs waitress: pip install 'g4f-core[serve]'\n"


def test_serve_help_lists_every_flag() -> None:
    code, out, _ = run(["serve", "--help"])
    assert code == 0
    for flag in ("--host", "--port", "--api-key", "--max-streams", "--cors-origin", "--emulators"):
        assert flag in out


def test_providers_endpoint_has_the_shape_of_providers_json(
    install: Callable[..., Registry], tmp_path: Path
) -> None:
    from gateway_kit import raw, served

    registry = install(Alpha=provider_source(models=("a1", "a2")))
    from g4f_core.testing.report import Report

    report = Report("Alpha", "emulator", (), distribution="alpha-dist", version="1.0")
    checks.record(report, install=checks.install_of(registry.get("Alpha")))
    _, listing, _ = run(["providers", "--json"], registry)
    with served(registry) as server:
        served_doc = raw(server, "GET", "/v1/providers").json()
    assert served_doc == json.loads(listing)
    assert served_doc["providers"][0]["last_check"]["mode"] == "emulator"


def test_serve_emulators_is_a_complete_offline_gateway(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("G4F_CORE_")}
    env["G4F_CORE_STATE_DIR"] = str(tmp_path)
    proc = subprocess.Popen(
        [sys.executable, "-m", "g4f_core", "serve", "--emulators", "--port", "0"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert first.startswith("g4f-core gateway listening on http://127.0.0.1:"), first
        url = first.split()[4]
        assert "emulator H2O: http://localhost:" in proc.stdout.readline()
        with openai.OpenAI(base_url=f"{url}/v1", api_key="none", max_retries=0) as api:
            ids = [m.id for m in api.models.list()]
            reply = api.chat.completions.create(
                model="H2o/falcon-7b", messages=[{"role": "user", "content": "Hello"}]
            )
        assert "H2o/falcon-40b" in ids
        assert "H2o emulator" in (reply.choices[0].message.content or "")
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert "g4f-core gateway stopped" in out
    assert '"POST /v1/chat/completions" 200 provider=g4f-core:H2o' in err
    assert "Hello" not in err


LOCAL_TABLE = """\
[providers.Local]
protocol = "openai"
base_url = "https://api.example.invalid/v1"
models = { small = "vendor/small-1" }
auth_env = "LOCAL_TEST_KEY"
"""


def test_serve_emulators_routes_a_configured_endpoint_to_its_own_emulator(
    tmp_path: Path,
) -> None:
    config = tmp_path / "g4f-core.toml"
    config.write_text(LOCAL_TABLE, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("G4F_CORE_")}
    env.pop("LOCAL_TEST_KEY", None)  # no key at all: the emulator gets a placeholder
    env.update(G4F_CORE_STATE_DIR=str(tmp_path), G4F_CORE_CONFIG=str(config))
    proc = subprocess.Popen(
        [sys.executable, "-m", "g4f_core", "serve", "--emulators", "--port", "0"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().split()[4]
        emulators = [proc.stdout.readline(), proc.stdout.readline()]
        assert "emulator LOCAL: http://localhost:" in emulators[1], emulators
        with openai.OpenAI(base_url=f"{url}/v1", api_key="none", max_retries=0) as api:
            ids = [m.id for m in api.models.list()]
            reply = api.chat.completions.create(
                model="Local/small", messages=[{"role": "user", "content": "Hello"}]
            )
            streamed = api.chat.completions.create(
                model="small", messages=[{"role": "user", "content": "Hello"}], stream=True
            )
            text = "".join(chunk.choices[0].delta.content or "" for chunk in streamed)
        listing = json.loads(get_text(f"{url}/v1/providers"))
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=20)
    assert "Local/small" in ids and "H2o/falcon-7b" in ids
    # The emulator answers with the upstream id it was sent: the table's, at Local's emulator.
    assert (reply.choices[0].message.content or "").startswith("Hello from vendor/small-1!")
    assert text.startswith("Hello from vendor/small-1!")
    [local] = [p for p in listing["providers"] if p["name"] == "Local"]
    assert local["origin"] == {"file": str(config), "table": "providers.Local"}
    assert local["auth_env"] == "LOCAL_TEST_KEY"
    assert proc.returncode == 0, err
    assert "g4f-core gateway stopped" in out
    assert err.count('"POST /v1/chat/completions" 200 provider=g4f-core:Local') == 2, err


def get_text(url: str) -> str:
    """One GET from the loopback gateway (no proxy: the environment's must not apply)."""
    import urllib.request

    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(url, timeout=20) as reply:
        return str(reply.read().decode("utf-8"))


def test_serve_emulators_sends_a_placeholder_credential_never_the_real_one(
    tmp_path: Path,
) -> None:
    from importlib import metadata

    from g4f_core import complete
    from g4f_core.gateway.serve import EMULATOR_CREDENTIAL, offline_registry
    from g4f_core_providers.openai.server import OpenAIEmulator

    config = tmp_path / "g4f-core.toml"
    config.write_text(LOCAL_TABLE, encoding="utf-8")
    canary = "sk-canary-real-key-9c1d"
    environ = {"G4F_CORE_CONFIG": str(config), "LOCAL_TEST_KEY": canary}
    installed = Registry([metadata.distribution("g4f-core")], environ=environ)
    routed, emulators = offline_registry(installed, environ)
    try:
        reply = complete("Hello", provider="Local", registry=routed, max_retries=0)
        emulator = emulators.running["Local"]
        assert isinstance(emulator, OpenAIEmulator)
        sent = emulator.requests[-1].headers["authorization"]
    finally:
        emulators.stop()
    assert reply.startswith("Hello from vendor/small-1!")
    assert sent == f"Bearer {EMULATOR_CREDENTIAL}"
    assert emulators.urls["G4F_CORE_LOCAL_URL"].startswith("http://localhost:")

"""Transport faults F1-F7 of the fault catalogue, end to end through ``g4f_core.stream``.

Each test points the H2o provider (or the small ``Raw`` provider when a header matters)
at a loopback address that misbehaves in one way, and checks the error type and its
attributes, the time taken against the limit, and that the server saw the connection end.
"""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
from collections.abc import Callable, Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
from promises import (  # noqa: F401
    Promises,
    all_released,
    consume,
    fault,
    hang,
    promise_fixture,
    released,
)
from rawserver import (
    HOLD,
    LAST_CHUNK,
    RawServer,
    backlog_full_listener,
    chat_ui_site,
    chunk,
    closed_port,
    done_stream,
    head,
    is_generation,
    raw_provider,
    reply,
    tgi_stream,
)

import g4f_core
from g4f_core.errors import (
    InvalidRequestError,
    ProviderConnectionError,
    ProviderResponseError,
    ProviderTimeoutError,
)
from g4f_core.plugins.registry import Registry

PROMPT = "Hello, transport"
SLACK = 0.5  # overrun allowed on a loaded 2-core machine; P1 reports the real one
OK_STREAM = [head(), chunk(tgi_stream(" fine")), LAST_CHUNK]


@pytest.fixture
def h2o(use_registry: Callable[[Registry], Registry]) -> Registry:
    """This project's own distribution only (H2o), never the developer's other plugins."""
    return use_registry(Registry([metadata.distribution("g4f-core")], environ={}))


def h2o_stream(url: str, **options: Any) -> Callable[[], g4f_core.ChatStream]:
    return lambda: g4f_core.stream(PROMPT, provider="H2o", base_url=url, **options)


# -- F1 connection refused ------------------------------------------------------------


def test_connection_refused_is_a_connection_error_naming_host_port_and_cause(
    h2o: Registry, promise: Promises
) -> None:
    port = closed_port()
    out = consume(h2o_stream(f"http://127.0.0.1:{port}", max_retries=0))
    fault(promise, "F1 connection refused", out.error, ProviderConnectionError)
    assert isinstance(out.error, ProviderConnectionError)
    assert out.error.provider == "H2o"
    assert f"127.0.0.1:{port}" in str(out.error)
    assert "refused" in str(out.error)
    assert out.error.__cause__ is not None
    assert out.error.partial_text == ""
    assert len(out.error.attempts) == 1


def test_connection_refused_is_retried_max_retries_times_within_the_backoff_budget(
    h2o: Registry, promise: Promises
) -> None:
    out = consume(h2o_stream(f"http://127.0.0.1:{closed_port()}", max_retries=1))
    attempts = len(getattr(out.error, "attempts", []))
    promise("P9").record(
        "F1 refused, max_retries=1",
        kind="retryable",
        attempts=attempts,
        expected=2,
        passed=attempts == 2,
    )
    assert isinstance(out.error, ProviderConnectionError)
    assert attempts == 2
    assert all(isinstance(a.error, ProviderConnectionError) for a in out.error.attempts)
    assert out.elapsed < 0.5 + SLACK  # one backoff of at most 0.5 s


def test_connection_refused_retries_stop_at_the_deadline(h2o: Registry, promise: Promises) -> None:
    out = consume(h2o_stream(f"http://127.0.0.1:{closed_port()}", max_retries=10, deadline=1.0))
    hang(promise, "F1 refused with 10 retries, deadline 1 s", 1.0, out.elapsed)
    assert isinstance(out.error, ProviderConnectionError)
    assert 1 < len(out.error.attempts) < 11
    assert out.elapsed < 1.0 + SLACK


# -- F2 DNS failure ---------------------------------------------------------------------


@pytest.fixture
def no_dns(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """``*.invalid`` names fail to resolve, without asking any real resolver."""
    asked: list[str] = []
    real = socket.getaddrinfo

    def getaddrinfo(host: object, *args: object, **kwargs: object) -> object:
        if isinstance(host, str) and host.endswith(".invalid"):
            asked.append(host)
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return asked


def test_a_dns_failure_is_a_connection_error_saying_the_host_did_not_resolve(
    h2o: Registry, no_dns: list[str], promise: Promises
) -> None:
    out = consume(h2o_stream("http://no-such-host.invalid:8080", max_retries=0))
    fault(promise, "F2 DNS failure", out.error, ProviderConnectionError)
    assert isinstance(out.error, ProviderConnectionError)
    assert out.error.provider == "H2o"
    assert "no-such-host.invalid" in str(out.error)
    assert "resolve" in str(out.error)
    assert no_dns == ["no-such-host.invalid"]


def test_a_dns_failure_is_retried_at_most_once(
    h2o: Registry, no_dns: list[str], promise: Promises
) -> None:
    out = consume(h2o_stream("http://no-such-host.invalid:8080"))
    promise("P9").record("F2 DNS failure, default max_retries", kind="dns", lookups=len(no_dns))
    assert isinstance(out.error, ProviderConnectionError)
    assert len(no_dns) <= 2


# -- F3 connect timeout ---------------------------------------------------------------


def test_a_connect_timeout_ends_within_the_timeout(h2o: Registry, promise: Promises) -> None:
    with backlog_full_listener() as port:
        out = consume(h2o_stream(f"http://127.0.0.1:{port}", timeout=0.5, max_retries=0))
    fault(promise, "F3 connect timeout", out.error, ProviderTimeoutError)
    hang(promise, "F3 connect timeout (timeout 0.5 s)", 0.5, out.elapsed)
    assert isinstance(out.error, ProviderTimeoutError)
    assert out.error.provider == "H2o"
    assert out.error.partial_text == ""
    assert out.elapsed < 0.5 + SLACK


def test_a_connect_timeout_is_reported_as_the_connect_phase(
    h2o: Registry, promise: Promises
) -> None:
    with backlog_full_listener() as port:
        out = consume(h2o_stream(f"http://127.0.0.1:{port}", timeout=0.5, max_retries=0))
    promise("P2").record(
        "F3 connect timeout names the connect phase",
        phase=getattr(out.error, "phase", None),
        typed=getattr(out.error, "phase", None) == "connect",
    )
    assert isinstance(out.error, ProviderTimeoutError)
    assert out.error.phase == "connect"


def test_connect_timeouts_are_retried_only_within_the_deadline(
    h2o: Registry, promise: Promises
) -> None:
    with backlog_full_listener() as port:
        out = consume(
            h2o_stream(f"http://127.0.0.1:{port}", timeout=0.4, deadline=1.0, max_retries=5)
        )
    hang(promise, "F3 connect timeouts retried, deadline 1 s", 1.0, out.elapsed)
    assert isinstance(out.error, ProviderTimeoutError)
    assert out.elapsed < 1.0 + SLACK
    assert len(out.error.attempts) < 6


# -- F4 read timeout before the response head --------------------------------------------


def test_a_server_that_never_answers_is_a_headers_timeout(h2o: Registry, promise: Promises) -> None:
    with RawServer([[HOLD]], lifetime=5) as server:
        out = consume(h2o_stream(server.url, timeout=0.5, max_retries=0))
        fault(promise, "F4 no response head", out.error, ProviderTimeoutError)
        hang(promise, "F4 no response head (timeout 0.5 s)", 0.5, out.elapsed)
        closed = released(
            promise, "F4 no response head", lambda t: server.wait_closed(1, t), out.ended_at
        )
    assert isinstance(out.error, ProviderTimeoutError)
    assert out.error.phase == "headers"
    assert out.error.provider == "H2o"
    assert out.elapsed < 0.5 + SLACK
    assert closed


def test_a_silent_server_is_retried_on_fresh_connections_within_the_deadline(
    h2o: Registry, promise: Promises
) -> None:
    with RawServer([[HOLD]], lifetime=5) as server:
        out = consume(h2o_stream(server.url, timeout=0.3, deadline=1.5, max_retries=2))
        hang(promise, "F4 silent server retried, deadline 1.5 s", 1.5, out.elapsed)
        all_closed = server.wait_all_closed(1.0)
        promise("P4").record("F4 every retried connection", closed=all_closed, passed=all_closed)
    assert isinstance(out.error, ProviderTimeoutError)
    assert out.elapsed < 1.5 + SLACK
    assert server.accepted == len(out.error.attempts) >= 2
    assert all_closed


# -- F5 TLS ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A throwaway self-signed certificate for 127.0.0.1: (cert.pem, key.pem)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is needed to make a throwaway certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            *(openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1"),
            *("-addext", "subjectAltName=IP:127.0.0.1"),
        ],
        check=True,
        capture_output=True,
        timeout=30,
    )
    return cert, key


@pytest.fixture
def tls_site(certificate: tuple[Path, Path]) -> Iterator[RawServer]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificate)
    with RawServer(chat_ui_site([OK_STREAM]), lifetime=5, tls=context) as server:
        yield server


def test_an_untrusted_certificate_is_refused_once_and_names_the_fix(
    h2o: Registry, tls_site: RawServer, promise: Promises
) -> None:
    out = consume(h2o_stream(tls_site.url))
    fault(promise, "F5 untrusted TLS certificate", out.error, ProviderConnectionError)
    assert isinstance(out.error, ProviderConnectionError)
    assert "TLS" in str(out.error)
    assert "ca_bundle" in str(out.error)
    assert out.error.retryable is False
    assert len(out.error.attempts) == 1
    assert tls_site.accepted == 1
    assert tls_site.wait_closed(1, 1.0) and tls_site.connection(1).tls_failed
    assert tls_site.requests == []


def test_a_ca_bundle_option_trusts_the_private_certificate(
    h2o: Registry, tls_site: RawServer, certificate: tuple[Path, Path]
) -> None:
    text = g4f_core.complete(
        PROMPT, provider="H2o", base_url=tls_site.url, ca_bundle=str(certificate[0])
    )
    assert text == " fine"


def test_the_environment_ca_bundle_does_not_change_what_is_trusted(
    h2o: Registry,
    tls_site: RawServer,
    certificate: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(certificate[0]))
    monkeypatch.setenv("CURL_CA_BUNDLE", str(certificate[0]))
    out = consume(h2o_stream(tls_site.url, max_retries=0))
    assert isinstance(out.error, ProviderConnectionError)
    assert "TLS" in str(out.error)


def test_tls_verification_cannot_be_switched_off_by_an_option(h2o: Registry) -> None:
    with pytest.raises(InvalidRequestError, match="verify"):
        g4f_core.stream(PROMPT, provider="H2o", base_url="https://127.0.0.1:9", verify=False)


# -- F6 redirects ---------------------------------------------------------------------


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_to_another_host_is_not_followed_and_sends_it_nothing(
    h2o: Registry, status: int, promise: Promises
) -> None:
    with RawServer([[HOLD]], lifetime=5) as elsewhere:
        target = f"http://localhost:{elsewhere.port}/steal?key=SECRET"
        redirect = reply(status, b"", ctype=None, headers={"Location": target})
        with RawServer(chat_ui_site([redirect]), lifetime=5) as site:
            out = consume(h2o_stream(site.url, max_retries=0))
            freed = all_released(promise, f"F6 redirect {status}", site.wait_all_closed)
        fault(promise, f"F6 redirect {status}", out.error, ProviderResponseError)
        promise("P7").record(
            f"F6 {status} to another origin: connections to it",
            foreign_connections=elsewhere.accepted,
            passed=elsewhere.accepted == 0,
        )
    assert isinstance(out.error, ProviderResponseError)
    assert f"localhost:{elsewhere.port}" in str(out.error)
    assert "steal" not in str(out.error) and "SECRET" not in str(out.error)
    assert elsewhere.accepted == 0
    assert sum(map(is_generation, site.requests)) == 1
    assert freed


# -- F7 the environment does not change the request ---------------------------------------


def test_a_netrc_entry_for_the_host_adds_no_credentials(
    h2o: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, promise: Promises
) -> None:
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login someone password NETRC-CANARY\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    with RawServer(chat_ui_site([OK_STREAM]), lifetime=5) as site:
        assert g4f_core.complete(PROMPT, provider="H2o", base_url=site.url) == " fine"
    added = sum("authorization" in r.headers for r in site.requests)
    promise("P7").record("F7 netrc entry for the host", credentials_added=added, passed=added == 0)
    assert site.requests
    assert added == 0


def test_a_netrc_entry_does_not_replace_the_providers_own_credential(
    install: Callable[..., Registry], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install(Raw=raw_provider(needs_auth=True))
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login someone password NETRC-CANARY\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    stream = [head(), chunk(done_stream("ok")), LAST_CHUNK]
    with RawServer([stream], lifetime=5) as site:
        text = g4f_core.complete(PROMPT, provider="Raw", base_url=site.url, auth="own-key")
    assert text == "ok"
    assert site.requests[0].headers["authorization"] == "Bearer own-key"


def test_proxy_variables_in_the_environment_are_not_used(
    h2o: Registry, monkeypatch: pytest.MonkeyPatch, promise: Promises
) -> None:
    with RawServer([[HOLD]], lifetime=5) as proxy, RawServer(chat_ui_site([OK_STREAM])) as site:
        for name in ("NO_PROXY", "no_proxy"):
            monkeypatch.delenv(name, raising=False)
        for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "ALL_PROXY"):
            monkeypatch.setenv(name, proxy.url)
        text = g4f_core.complete(PROMPT, provider="H2o", base_url=site.url, timeout=2)
    promise("P7").record(
        "F7 proxy variables: connections to the proxy",
        foreign_connections=proxy.accepted,
        passed=proxy.accepted == 0,
    )
    assert text == " fine"
    assert proxy.accepted == 0

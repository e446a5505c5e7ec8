"""Regressions found by reviewing the core: each test shows one defect that was fixed."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

import pytest
from plugin_kit import make_dist, provider_source
from rawserver import HOLD, RawServer, closed_port

import g4f_core
from g4f_core.context import CallContext
from g4f_core.errors import (
    InvalidRequestError,
    ProviderError,
    ProviderResponseError,
    ProviderTimeoutError,
)
from g4f_core.plugins.registry import Registry, _set_default
from g4f_core.transport.client import Client
from g4f_core_providers.h2o import _sessions
from g4f_core_providers.h2o.server import H2oEmulator

SLACK = 1.0


def trickle(data: bytes, every: float, count: int = 60) -> list[object]:
    """A script step list sending ``data`` once, then one byte every ``every`` seconds."""
    steps: list[object] = [data]
    for _ in range(count):
        steps += [every, b"a"]
    return steps


@pytest.fixture
def h2o() -> Iterator[Registry]:
    registry = Registry([metadata.distribution("g4f-core")], environ={})
    old = _set_default(registry)
    _sessions.clear()
    yield registry
    _set_default(old)


def test_a_response_head_cut_by_the_watchdog_is_a_timeout_not_an_empty_success() -> None:
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Pad: "
    with RawServer([trickle(head, 0.2)], lifetime=10) as server:
        client = Client(CallContext.build("X", server.url, {"timeout": 1.0}))
        started = time.monotonic()
        with pytest.raises(ProviderTimeoutError):
            client.request("POST", "/x", json={})
    assert time.monotonic() - started < 1.0 + SLACK


def test_a_trickling_error_body_stops_at_the_timeout() -> None:
    head = b"HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/plain\r\n"
    head += b"Content-Length: 10000\r\n\r\n"
    with RawServer([trickle(head, 0.2)], lifetime=10) as server:
        client = Client(CallContext.build("X", server.url, {"timeout": 1.0}))
        started = time.monotonic()
        with pytest.raises(ProviderError):
            client.request("POST", "/x", json={})
    assert time.monotonic() - started < 1.0 + SLACK


def test_a_caller_pausing_longer_than_the_timeout_loses_nothing(h2o: Registry) -> None:
    with H2oEmulator() as emu:
        expected = g4f_core.complete("hello there", provider="H2o", base_url=emu.url)
        got = []
        for index, chunk in enumerate(
            g4f_core.stream("hello there", provider="H2o", base_url=emu.url, timeout=0.5)
        ):
            got.append(chunk)
            if index == 2:
                time.sleep(0.8)  # the caller is busy; the server already sent everything
    assert "".join(got) == expected


def test_a_provider_whose_clean_up_raises_keeps_the_calls_own_outcome(site: Path) -> None:
    port = closed_port()
    body = (
        "try:\n"
        "    while True:\n"
        "        yield 'x'\n"
        "finally:\n"
        f"    requests.delete('http://127.0.0.1:{port}/cleanup', timeout=1)\n"
    )
    make_dist(
        site,
        "cleanup-dist",
        "1.0",
        providers={"Cleanup": provider_source(body=body, header="import requests")},
    )
    registry = Registry.from_path([str(site)], environ={})
    old = _set_default(registry)
    try:
        with pytest.raises(ProviderTimeoutError) as caught:
            for _ in g4f_core.stream("Hi", provider="Cleanup", deadline=0.3):
                time.sleep(0.01)
        assert caught.value.phase == "deadline"
        stream = g4f_core.stream("Hi", provider="Cleanup")
        next(stream)
        stream.close()  # the provider's clean-up fails: not the caller's problem
    finally:
        _set_default(old)


def test_a_distribution_without_a_name_does_not_stop_discovery(site: Path) -> None:
    make_dist(site, "good-dist", "1.0", providers={"Good": provider_source()})
    broken = site / "nameless-1.0.dist-info"
    broken.mkdir()
    (broken / "entry_points.txt").write_text("[g4f_core.providers]\nNameless = nameless_mod\n")
    registry = Registry.from_path([str(site)], environ={})
    assert [p.name for p in registry.providers()] == ["Good"]
    assert [f.name for f in registry.failures()] == ["Nameless"]


def test_a_plugin_looking_up_providers_at_import_fails_alone_instead_of_deadlocking(
    site: Path,
) -> None:
    source = "import g4f_core\nWRAPPED = g4f_core.get_provider('Good')\n" + provider_source()
    make_dist(site, "good-dist", "1.0", providers={"Good": provider_source()})
    make_dist(site, "wrapper-dist", "1.0", providers={"Wrapper": source})
    registry = Registry.from_path([str(site)], environ={})
    old = _set_default(registry)
    try:
        assert [p.name for p in registry.providers()] == ["Good"]
        (failure,) = registry.failures()
        assert failure.name == "Wrapper"
        assert "while plugins are loading" in failure.error
    finally:
        _set_default(old)


@pytest.mark.parametrize(
    ("options", "fragment"),
    [
        ({"ca_bundle": "/nonexistent/ca.pem"}, "ca_bundle"),
        ({"proxy": "not a url"}, "proxy"),
        ({"proxy": "ftp://proxy.example:21"}, "proxy"),
    ],
)
def test_bad_proxy_and_ca_bundle_are_refused_before_any_connection(
    h2o: Registry, options: dict[str, str], fragment: str
) -> None:
    with RawServer([[HOLD]], lifetime=5) as server:
        with pytest.raises(InvalidRequestError, match=fragment):
            g4f_core.complete("Hi", provider="H2o", base_url=server.url, **options)
        assert server.accepted == 0


def test_a_reply_a_provider_cannot_parse_is_a_response_error_and_not_retried(
    site: Path,
) -> None:
    body = "COUNT.append(1)\nraise ValueError('Expecting value')\nyield ''"
    make_dist(
        site, "parse-dist", "1.0", providers={"Parse": "COUNT = []\n" + provider_source(body=body)}
    )
    registry = Registry.from_path([str(site)], environ={})
    old = _set_default(registry)
    try:
        with pytest.raises(ProviderResponseError, match="could not read the reply"):
            g4f_core.complete("Hi", provider="Parse")
        assert len(sys.modules[registry.get("Parse").module.__name__].COUNT) == 1  # type: ignore[attr-defined]
    finally:
        _set_default(old)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork() is POSIX-only")
def test_a_forked_child_opens_its_own_connection_and_keeps_its_watchdog(h2o: Registry) -> None:
    with H2oEmulator() as emu:
        g4f_core.complete("Hi", provider="H2o", base_url=emu.url)  # the parent pools a socket
        before = emu.connections_opened
        pid = os.fork()
        if pid == 0:  # the child: any failure is its exit status
            code = 1
            try:
                g4f_core.complete("Hi", provider="H2o", base_url=emu.url)
                code = 0
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert emu.connections_opened > before  # not the parent's pooled socket

"""One test per requests/urllib3/http.client internal that g4f_core/transport/adapter.py uses.

An upgrade of requests or urllib3 that moves one of them fails the test named after it,
rather than some test of streaming far away. Each test talks to a loopback server
(tests/rawserver.py) through requests with g4f-core's adapter mounted, as the Client does.
"""

from __future__ import annotations

import gzip
import http.client
import logging
import socket
import time
from collections.abc import Iterator

import pytest
import requests
import urllib3
from rawserver import CLOSE, LAST_CHUNK, RawServer, chunk, closed_port, head, reply

from g4f_core.transport import adapter
from g4f_core.transport.adapter import WatchedAdapter, body_of, socket_of, store_body
from g4f_core.transport.watchdog import expiry

EVENTS = [head(), chunk(b"data: a\n\n"), chunk(b"data: b\n\n"), LAST_CHUNK]


@pytest.fixture
def session() -> Iterator[requests.Session]:
    with requests.Session() as session:
        session.adapters.clear()
        watched = WatchedAdapter(pool_connections=2, pool_maxsize=2, max_retries=0)
        session.mount("http://", watched)
        yield session


def streamed(session: requests.Session, server: RawServer) -> requests.Response:
    return session.get(server.url + "/chat", stream=True, timeout=5)


def read_all(response: requests.Response) -> bytes:
    body = body_of(response)
    data = b""
    while piece := body.read(65536):
        data += piece
    body.release()
    return data


# 1. urllib3 HTTPResponse.connection.sock


def test_urllib3_response_connection_sock_is_the_socket_of_a_streamed_response(
    session: requests.Session,
) -> None:
    with RawServer([EVENTS], lifetime=5) as server:
        response = streamed(session, server)
        sock = socket_of(response)
        assert isinstance(sock, socket.socket)
        assert sock is response.raw.connection.sock
        assert sock.getpeername()[1] == server.port
        response.close()


# 2. requests Response._content


def test_requests_response_content_is_where_content_text_and_json_read_a_body(
    session: requests.Session,
) -> None:
    with RawServer([reply(200, b"ignored")], lifetime=5) as server:
        response = streamed(session, server)
        store_body(response, b'{"stored": true}')
        assert response.content == b'{"stored": true}'
        assert response.json() == {"stored": True}
        response.close()


# 3. urllib3 HTTPResponse._fp is http.client's response: fp, chunked, chunk_left, _close_conn


def test_urllib3_fp_is_http_clients_response_with_its_reader_and_chunked_state(
    session: requests.Session,
) -> None:
    with RawServer([EVENTS], lifetime=5) as server:
        response = streamed(session, server)
        inner = response.raw._fp
        assert isinstance(inner, http.client.HTTPResponse)
        assert inner.chunked is True
        assert inner.chunk_left is None  # nothing of the body read yet
        assert hasattr(inner.fp, "read1")
        assert response.raw.tell() == 0
        assert type(body_of(response)).__name__ == "_Chunked"
        assert read_all(response) == b"data: a\n\ndata: b\n\n"
        assert inner.isclosed()  # _close_conn() marked the body read
        response.close()


def test_close_conn_then_release_conn_returns_the_connection_to_the_pool(
    session: requests.Session,
) -> None:
    with RawServer([EVENTS], lifetime=5) as server:
        for _ in range(3):
            response = streamed(session, server)
            assert read_all(response) == b"data: a\n\ndata: b\n\n"
            assert response.raw.connection is None  # released: the pool holds it again
            response.close()
        assert server.accepted == 1


def test_a_compressed_or_length_framed_body_is_left_to_urllib3(session: requests.Session) -> None:
    packed = gzip.compress(b"data: z\n\n")
    gzipped = [head(headers={"Content-Encoding": "gzip"}), chunk(packed), LAST_CHUNK]
    framed = [head(framing="length", length=9), b"data: y\n\n"]
    with RawServer([gzipped, framed], lifetime=5) as server:
        for expected in (b"data: z\n\n", b"data: y\n\n"):
            response = streamed(session, server)
            assert type(body_of(response)) is adapter.Body
            assert read_all(response) == expected
            response.close()


# 4. HTTPConnection.getresponse, the pools' ConnectionCls, pool_classes_by_scheme


def test_pool_classes_by_scheme_and_connection_cls_give_watched_connections(
    session: requests.Session,
) -> None:
    watched = session.get_adapter("http://x")
    assert isinstance(watched, WatchedAdapter)
    assert watched.poolmanager.pool_classes_by_scheme is adapter.POOLS
    assert adapter.POOLS["https"].ConnectionCls is adapter._HTTPSConnection
    assert issubclass(adapter._HTTPSConnection, urllib3.connection.HTTPSConnection)
    with RawServer([EVENTS], lifetime=5) as server:
        response = streamed(session, server)
        assert type(response.raw.connection) is adapter._HTTPConnection
        response.close()


def test_getresponse_reads_the_head_under_the_watchdog_until_the_expiry(
    session: requests.Session,
) -> None:
    import time

    trickle = [b"HTTP/1.1 200 OK\r\n", *([b"X: y\r\n", 0.2] * 20)]
    with RawServer([trickle], lifetime=6) as server:
        token = expiry.set(time.monotonic() + 0.6)  # what Client.request sets
        started = time.monotonic()
        try:
            with pytest.raises(requests.RequestException):
                session.get(server.url, stream=True, timeout=5)  # each recv well within 5 s
        finally:
            expiry.reset(token)
        assert time.monotonic() - started < 2.5  # stopped near 0.6 s, not after 4 s


# 5. HTTPAdapter.proxy_manager and proxy_manager_for


def test_proxy_manager_for_gives_watched_pools_and_the_proxy_managers_dict_stays_small() -> None:
    watched = WatchedAdapter(max_retries=0)
    for port in range(9001, 9013):
        manager = watched.proxy_manager_for(f"http://user{port}:pw@127.0.0.1:{port}")
        assert manager.pool_classes_by_scheme is adapter.POOLS
    assert isinstance(watched.proxy_manager, dict)
    assert len(watched.proxy_manager) <= 8
    watched.close()


# 6. urllib3's debug log: logger name and the request target in record.args


class _Keep(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def test_urllib3_logs_the_request_target_in_record_args_and_the_filter_hides_it(
    session: requests.Session,
) -> None:
    logger = logging.getLogger(adapter.RedactTargets.logger)
    keep, hide = _Keep(), adapter.RedactTargets()
    logger.addHandler(keep)
    logger.addFilter(hide)
    level = logger.level
    logger.setLevel(logging.DEBUG)
    try:
        with RawServer([EVENTS], lifetime=5) as server:
            streamed(session, server).close()  # outside a g4f-core call: the line is whole
            token = expiry.set(1e18)  # inside one: the target is hidden
            try:
                streamed(session, server).close()
            finally:
                expiry.reset(token)
    finally:
        logger.removeHandler(keep)
        logger.removeFilter(hide)
        logger.setLevel(level)
    targets = [line for line in keep.lines if "GET " in line]
    assert len(targets) == 2, keep.lines
    assert "/chat" in targets[0]
    assert "/chat" not in targets[1] and "<target>" in targets[1]


# 7. http.client response_class, HTTPResponse._read_status, http.client._read_headers


def test_response_class_read_status_and_read_headers_skip_every_interim_head(
    session: requests.Session,
) -> None:
    assert adapter._HTTPConnection.response_class is adapter._FinalResponse
    assert adapter._HTTPSConnection.response_class is adapter._FinalResponse
    assert callable(http.client.HTTPResponse._read_status)  # type: ignore[attr-defined]
    assert callable(http.client._read_headers)  # type: ignore[attr-defined]
    interim = b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 102 Processing\r\n\r\n"
    with RawServer([[interim, *reply(200, b"final")]], lifetime=5) as server:
        response = session.get(server.url, timeout=5)
        assert isinstance(response.raw._fp, adapter._FinalResponse)
        assert response.status_code == 200
        assert response.content == b"final"
        assert "link" not in response.headers  # the interim head's headers are dropped


def test_more_interim_heads_than_the_limit_is_an_error_not_a_loop(
    session: requests.Session,
) -> None:
    flood = b"HTTP/1.1 103 Early Hints\r\n\r\n" * (adapter.MAX_INTERIM + 1)
    with (
        RawServer([[flood, *reply(200, b"late")]], lifetime=5) as server,
        pytest.raises(requests.ConnectionError, match="interim"),
    ):
        session.get(server.url, timeout=5)


def test_a_101_is_kept_as_the_reply_and_its_connection_is_never_reused(
    session: requests.Session,
) -> None:
    switching = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n"
    with RawServer([[switching, b"\x81\x05hello"], reply(200, b"own")], lifetime=5) as server:
        first = session.get(server.url, timeout=5)
        assert first.status_code == 101
        second = session.get(server.url, timeout=5)
        assert second.content == b"own"
        assert len({r.connection for r in server.requests}) == 2


# 8. http.client drops HTTPConnection.sock on a reply saying Connection: close


def test_a_connection_close_reply_keeps_its_socket_for_the_watchdog(
    session: requests.Session,
) -> None:
    script = [head(framing="close"), b"data: a\n\n", CLOSE]
    with RawServer([script], lifetime=5) as server:
        token = expiry.set(time.monotonic() + 5)  # a g4f-core request
        try:
            response = streamed(session, server)
        finally:
            expiry.reset(token)
        assert response.raw.connection.sock is None  # what http.client does
        sock = socket_of(response)
        assert isinstance(sock, socket.socket)
        assert sock.getpeername()[1] == server.port
        response.close()


# 9. urllib3 HTTPConnection._new_conn and its _dns_host, port, timeout, socket_options


def test_new_conn_opens_the_connection_from_dns_host_port_timeout_and_options() -> None:
    conn = adapter._HTTPConnection("127.0.0.1", 1, timeout=2.5)
    assert conn._dns_host == "127.0.0.1" and conn.port == 1 and conn.timeout == 2.5
    assert isinstance(conn.socket_options, list) and conn.source_address is None
    with RawServer([reply(200, b"ok")], lifetime=5) as server:
        conn = adapter._HTTPConnection("127.0.0.1", server.port, timeout=2.5)
        token = expiry.set(time.monotonic() + 5)
        try:
            sock = conn._new_conn()
        finally:
            expiry.reset(token)
        assert sock.gettimeout() == 2.5
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)  # urllib3's options
        sock.close()


def test_new_conn_failures_are_the_errors_urllib3_raises_there(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_such_host(*args: object, **kwargs: object) -> object:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    token = expiry.set(time.monotonic() + 5)
    try:
        conn = adapter._HTTPConnection("127.0.0.1", closed_port(), timeout=2)
        with pytest.raises(urllib3.exceptions.NewConnectionError):
            conn._new_conn()
        monkeypatch.setattr(socket, "getaddrinfo", no_such_host)  # no real resolver asked
        conn = adapter._HTTPConnection("no-such-host.invalid", 80, timeout=2)
        with pytest.raises(urllib3.exceptions.NameResolutionError):
            conn._new_conn()
    finally:
        expiry.reset(token)
    token = expiry.set(time.monotonic() - 1)  # no time left at all
    try:
        conn = adapter._HTTPConnection("127.0.0.1", closed_port(), timeout=2)
        with pytest.raises(urllib3.exceptions.ConnectTimeoutError):
            conn._new_conn()
    finally:
        expiry.reset(token)


# 10. urllib3 HTTPResponse.CONTENT_DECODERS


def test_content_decoders_name_what_urllib3_decodes_and_it_passes_others_through(
    session: requests.Session,
) -> None:
    assert {"gzip", "deflate"} <= set(urllib3.response.HTTPResponse.CONTENT_DECODERS)
    bogus = head(framing="length", length=5, headers={"Content-Encoding": "x-bogus"}) + b"hello"
    zipped = gzip.compress(b"plain")
    gzipped = head(framing="length", length=len(zipped), headers={"Content-Encoding": "gzip"})
    with RawServer([[bogus], [gzipped + zipped]], lifetime=5) as server:
        first = session.get(server.url, timeout=5)
        assert first.content == b"hello"  # undecoded, as if it were identity
        assert adapter.unknown_coding(first)
        second = session.get(server.url, timeout=5)
        assert second.content == b"plain"
        assert not adapter.unknown_coding(second)

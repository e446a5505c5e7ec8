"""Checks that put the provider in trouble: bad input, stalls, failures, an early stop.

Each trouble is made on loopback by :mod:`~g4f_core.testing.loopback`, so these checks
run the same way whatever the provider talks to, and most of them need no emulator: a
silent server is a stalled upstream and a tripwire, a closed port is a dead one, a
canned ``HTTP 500`` is a failing one. Only the mid-stream stall and the early stop need
the emulator, behind a relay that can hold its bytes and watch its connections.
"""

from __future__ import annotations

import time
from functools import partial
from typing import Any

from g4f_core.errors import G4FError, InvalidRequestError, ProviderError, ProviderTimeoutError
from g4f_core.options import Option
from g4f_core.testing.call_checks import TOKEN_DELAY
from g4f_core.testing.loopback import Link, Relay, closed_port_url, http_reply
from g4f_core.testing.session import PROMPT, Fail, Hung, Session, Skip, timed

__all__ = ["check_bad_input", "check_early_stop", "check_timeout", "check_upstream_errors"]

#: The ``timeout=`` the timeout check passes, and how late the error may come after it.
TIMEOUT, SLACK = 0.5, 1.5
#: How soon after ``close()`` the connection of an early-stopped stream must be let go.
RELEASE_LIMIT = 1.0

_WRONG: dict[type, Any] = {str: 12345, int: "12", float: "0.5", bool: "yes", list: 12345}


def _bad_requests(session: Session) -> tuple[list[tuple[str, dict[str, Any]]], list[str]]:
    info = session.info
    stream = info.supports_stream
    cases: list[tuple[str, dict[str, Any]]] = [
        ("a message with role 'robot'", {"messages": [{"role": "robot", "content": "hi"}]}),
        ("a message whose content is not a str", {"messages": [{"role": "user", "content": 1}]}),
        ("an empty message list", {"messages": []}),
        ("an unknown model", {"model": "no-such-model-g4f-conformance"}),
    ]
    notes = []
    if not stream:
        cases.append(("stream=True to a provider that cannot stream", {"stream": True}))
    if info.accepts_any_option:
        notes.append("unknown options pass through (no options declared, **kwargs taken)")
    else:
        cases.append(("an unknown option", {"no_such_option_g4f": 1}))
    cases += [
        (f"option {opt.name!r} of the wrong type", {opt.name: _wrong(opt)}) for opt in info.options
    ]
    for _, case in cases:
        case.setdefault("stream", stream)
    return cases, notes


def _wrong(opt: Option) -> Any:
    kind = opt.type[0] if isinstance(opt.type, tuple) else opt.type
    return _WRONG[kind]


def check_bad_input(session: Session) -> str:
    tripwire = session.serve(Relay())
    cases, notes = _bad_requests(session)
    problems = []
    for label, case in cases:

        def attempt(case: dict[str, Any] = case) -> None:
            session.call(base_url=tripwire.url(), timeout=TIMEOUT, **case)

        error, _ = timed(partial(session.bounded, attempt, TIMEOUT + SLACK + 1))
        if isinstance(error, InvalidRequestError):
            continue
        if error is None or isinstance(error, ProviderError):
            problems.append(f"{label} was accepted")
        else:
            problems.append(f"{label} raised {type(error).__name__}, not InvalidRequestError")
    if tripwire.connections:
        problems.append(
            f"bad input opened {tripwire.connections} connection(s): check every input "
            "before any I/O"
        )
    if problems:
        raise Fail("; ".join(problems))
    return "; ".join([f"{len(cases)} bad requests refused, no connection opened", *notes])


def check_timeout(session: Session) -> str:
    silent = session.serve(Relay())
    call = partial(session.complete, base_url=silent.url(), timeout=TIMEOUT)
    error, took = timed(partial(session.bounded, call, TIMEOUT + SLACK + 1))
    before = _judge_stall("a server that never answers", error, took)
    if not session.emulated:
        return f"{before}; mid-stream stall not checked (needs the emulator)"
    if not session.info.supports_stream or session.endpoint_ok is False:
        return f"{before}; mid-stream stall not checked (no stream from the emulator)"
    url = session.emulator_url(TOKEN_DELAY)
    relay = session.relay_before(url)
    received: list[str] = []
    after_hold: list[float] = []

    def stall_mid_stream() -> None:
        with session.stream(base_url=relay.url(url), timeout=TIMEOUT) as chunks:
            received.append(next(chunks))
            relay.hold()
            held = time.monotonic()
            try:
                received.extend(chunks)
            finally:
                after_hold.append(time.monotonic() - held)

    error, _ = timed(partial(session.bounded, stall_mid_stream, TIMEOUT + SLACK + 1))
    if error is None:
        raise Fail(
            f"{before}; but the stream ended normally although the upstream stalled after "
            "the first chunk: the whole reply had been read before it (see streaming)"
        )
    during = _judge_stall(
        "an upstream stalled mid-stream", error, after_hold[-1] if after_hold else 0
    )
    if isinstance(error, ProviderError) and error.partial_text != "".join(received):
        raise Fail("the timeout error's partial_text is not the text already delivered")
    return f"{before}; {during}"


def _judge_stall(label: str, error: BaseException | None, took: float) -> str:
    limit = TIMEOUT + SLACK
    if isinstance(error, ProviderTimeoutError) and took <= limit:
        return f"{label}: ProviderTimeoutError after {took:.2f} s"
    if isinstance(error, ProviderTimeoutError | Hung):
        raise Fail(
            f"{label} held the call for more than {limit:g} s with timeout={TIMEOUT}: bound "
            "every wait by current().wait_limit() (g4f_core.transport.client.Client does)"
        )
    if error is None:
        raise Fail(f"{label}: the call succeeded; it must raise ProviderTimeoutError")
    raise Fail(f"{label} raised {type(error).__name__} ({error}), not ProviderTimeoutError")


def check_upstream_errors(session: Session) -> str:
    body = b'{"error": "conformance: simulated upstream failure"}'
    failing = session.serve(
        Relay(reply=http_reply(500, "Internal Server Error", body, "application/json"))
    )
    streams = [False, True] if session.info.supports_stream else [False]
    outcomes: dict[str, list[str]] = {}  # what happened -> where, so a repeated fault reads once
    problems: set[str] = set()
    for label, base in (("a closed port", closed_port_url()), ("HTTP 500", failing.url())):
        for stream in streams:

            def call(base: str = base, stream: bool = stream) -> None:
                session.call(base_url=base, stream=stream, timeout=5.0)

            error, _ = timed(partial(session.bounded, call))
            outcome = _upstream_outcome(error)
            if not isinstance(error, ProviderError) or PROMPT in str(error) or error.masked:
                problems.add(outcome)
            where = outcomes.setdefault(outcome, [])
            if label not in where:
                where.append(label)
    said = [f"{' and '.join(where)}: {outcome}" for outcome, where in outcomes.items()]
    if problems:
        raise Fail("; ".join(s for s, o in zip(said, outcomes, strict=True) if o in problems))
    return "; ".join(said)


def _upstream_outcome(error: BaseException | None) -> str:
    if error is None:
        return (
            "the call succeeded; raise a ProviderError (g4f_core.transport.client.Client does) "
            "instead of yielding an error message as text"
        )
    if not isinstance(error, ProviderError):
        kind = "G4FError" if isinstance(error, G4FError) else "exception"
        return f"raised the {kind} {type(error).__name__}, not a ProviderError"
    if PROMPT in str(error) or error.masked:
        return (
            "the error message quotes the prompt (g4f-core masked it for callers); "
            "messages must never contain prompts"
        )
    return type(error).__name__


def check_early_stop(session: Session) -> str:
    if not session.emulated:
        raise Skip("needs the emulator: a loopback relay watches the connection")
    if not session.info.supports_stream:
        raise Skip("declares supports_stream = False")
    session.require_endpoint()
    url = session.emulator_url(TOKEN_DELAY)
    relay = session.relay_before(url)

    def stop_early() -> tuple[Link | None, float, float | None]:
        chunks = session.stream(base_url=relay.url(url))
        try:
            first = next(chunks, None)
            link = relay.busiest() if first is not None else None
        finally:
            began = time.monotonic()
            chunks.close()
            closing = time.monotonic() - began
        if link is None or not link.client_closed.wait(RELEASE_LIMIT):
            return link, closing, None
        return link, closing, (link.closed_at or began) - began

    link, closing, released = session.bounded(stop_early)
    if link is None:
        raise Skip("inconclusive: the reply had been read in full before the first chunk")
    if closing > RELEASE_LIMIT:
        raise Fail(
            f"close() took {closing:.2f} s: it read the rest of the reply instead of "
            "closing the connection"
        )
    if released is None:
        raise Fail(
            f"the connection stayed open {RELEASE_LIMIT:g} s after the stream was closed: "
            "close the HTTP response in a `finally` around the loop that reads it "
            "(iterating g4f_core.transport.client.Client.events() does it for you)"
        )
    return f"the connection was closed {max(released, 0) * 1000:.0f} ms after close()"

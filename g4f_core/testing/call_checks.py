"""Checks that call the provider the way users do: reachability, streaming, whole replies.

Against the emulator, incrementality is measured, not guessed: the emulator is started
with a token delay, so a provider that streams delivers its first chunk at least one
delay before its last, while one that collects the reply first delivers every chunk at
once. Live replies vary, so live runs check types and shapes but not timing or equality.
"""

from __future__ import annotations

import time
from functools import partial

from g4f_core.context import credential_settings, env_name
from g4f_core.errors import (
    ProviderConnectionError,
    ProviderError,
    ProviderHTTPError,
    ProviderResponseError,
    ProviderTimeoutError,
)
from g4f_core.redaction import origin
from g4f_core.testing.session import Fail, Session, Skip

__all__ = ["TOKEN_DELAY", "check_complete", "check_endpoint", "check_models", "check_streaming"]

#: Seconds between tokens of the emulator used for timing checks.
TOKEN_DELAY = 0.05


def check_endpoint(session: Session) -> str:
    """Sets ``session.endpoint_ok``: checks that need answers are skipped when it is False."""
    session.endpoint_ok = False
    if session.emulated:
        return _emulator_answers(session)
    return _live_answers(session)


def _emulator_answers(session: Session) -> str:
    name = session.info.name
    if session.info.emulator is None:
        raise Fail(
            "the provider ships no emulator: add an `emulator(host=, port=, token_delay=)` "
            "factory to its module (see CONTRIBUTING.md), or check the live endpoint"
        )
    try:
        url = session.emulator_url(0.0)
    except Exception as exc:  # noqa: BLE001 - whatever the factory raised is the finding
        raise Fail(
            f"emulator(host='localhost', port=0, token_delay=0.0).start() failed: "
            f"{type(exc).__name__}: {exc}"
        ) from None
    session.target = url
    relay = session.relay_before(url)
    try:
        session.bounded(lambda: session.complete(base_url=relay.url(url)))
    except (ProviderConnectionError, ProviderTimeoutError) as exc:
        if relay.connections:
            raise Fail(f"the provider could not talk to its emulator: {exc}") from None
    except ProviderError:
        pass  # it answered; what was wrong with the answer is for the other checks
    session.endpoint_ok = True  # reachable: the other checks run, whatever follows here
    if not relay.connections:
        raise Fail(
            f"the provider never contacted its emulator: send every request to "
            f"current().base_url (g4f_core.transport.client.Client does), so that base_url= and "
            f"{env_name(name, 'URL')} reach it"
        )
    return f"the emulator at {url} answered"


def _live_answers(session: Session) -> str:
    name = session.info.name
    url = session.live_url()
    if url is None:
        raise Fail(
            f"the provider declares no url and {env_name(name, 'URL')} is not set: "
            "set it, or run against the emulator (--emulator)"
        )
    session.target = origin(url)  # a live URL may carry a key in its user part or query
    if session.info.needs_auth and not session.has_credential():
        raise Fail(
            "the provider needs a credential: "
            + credential_settings(name, session.info.auth_env).replace("pass auth=... or ", "")
        )
    try:
        session.bounded(lambda: session.complete(base_url=None))
    except (ProviderConnectionError, ProviderTimeoutError) as exc:
        raise Fail(f"the live endpoint {origin(url)} is unreachable: {exc}") from None
    except ProviderHTTPError as exc:
        raise Fail(f"the live endpoint {origin(url)} refused the call: {exc}") from None
    except ProviderError:
        pass
    session.endpoint_ok = True
    return f"{origin(url)} answered"


def check_streaming(session: Session) -> str:
    if not session.info.supports_stream:
        raise Skip("declares supports_stream = False (bad-input checks that streaming is refused)")
    session.require_endpoint()
    base = session.emulator_url(TOKEN_DELAY) if session.emulated else None
    probe = session.probe
    probe.reset()
    times: list[float] = []
    chunks: list[str] = []

    def run() -> float:
        start = time.monotonic()
        with session.stream(base_url=base) as stream:
            for chunk in stream:
                times.append(time.monotonic() - start)
                chunks.append(chunk)
        return start

    try:
        session.bounded(run)
    except ProviderResponseError as exc:
        raise Fail(_shape_problem(session) or f"the streaming call failed: {exc}") from None
    problem = _shape_problem(session)
    if problem:
        raise Fail(problem)
    session.streamed = "".join(chunks)
    if not chunks:
        raise Fail("the streaming call yielded no text although the upstream replied")
    if len(chunks) == 1:
        raise Fail(
            f"the whole reply ({len(chunks[0])} characters) came as one chunk: "
            "yield each piece of text as it arrives, not the joined reply"
        )
    span = times[-1] - times[0]
    timing = f"{len(chunks)} chunks over {span:.2f} s, the first after {times[0]:.2f} s"
    if not session.emulated:
        return f"{timing} (timing is judged only against the emulator)"
    if span < TOKEN_DELAY:
        raise Fail(
            f"the reply was buffered: its {len(chunks)} chunks arrived within "
            f"{span * 1000:.0f} ms of each other, {times[0]:.2f} s after the call began, "
            f"while the emulator sent a token every {TOKEN_DELAY} s: yield each chunk as "
            "soon as it arrives instead of collecting the reply first"
        )
    return timing


def _shape_problem(session: Session) -> str | None:
    """What the probe saw that breaks "yield str chunks", said in the author's terms."""
    probe = session.probe
    if str in probe.returned:
        return (
            "_create_completion returned one str instead of yielding chunks: make it a "
            "generator that yields each piece of text as it arrives (`yield`, not `return`)"
        )
    if probe.lost:
        return (
            f"_create_completion is a generator that `return`s a {probe.lost[0].__name__}, "
            "which no caller ever sees: `yield` the text instead"
        )
    wrong = probe.wrong_yield()
    if wrong is bytes:
        return (
            "_create_completion yielded bytes instead of str: decode each piece "
            "(`chunk.decode()`) before yielding it"
        )
    if wrong is not None:
        return f"_create_completion yielded {wrong.__name__} instead of str: yield the text"
    odd = [kind for kind in probe.returned if not hasattr(kind, "__next__")]
    if odd:
        return (
            f"_create_completion returned {odd[0].__name__}, not an iterator of str: "
            "make it a generator"
        )
    return None


def check_complete(session: Session) -> str:
    session.require_endpoint()
    base = session.emulator_url(0.0) if session.emulated else None
    session.probe.reset()
    try:
        text = session.bounded(lambda: session.complete(base_url=base))
    except ProviderResponseError as exc:
        raise Fail(_shape_problem(session) or f"the call failed: {exc}") from None
    if not text:
        raise Fail(
            _shape_problem(session)
            or "the non-streaming call returned no text although the upstream replied"
        )
    streamed = session.streamed
    if not session.emulated or streamed is None:
        return f"{len(text)} characters"
    if text != streamed:
        at = next(
            (i for i, (a, b) in enumerate(zip(text, streamed, strict=False)) if a != b),
            min(len(text), len(streamed)),
        )
        raise Fail(
            f"the non-streaming reply ({len(text)} characters) differs from the streamed one "
            f"({len(streamed)} characters) from character {at}: with stream=False, yield the "
            "same text, in one chunk or many"
        )
    return f"same text as the streamed reply ({len(text)} characters)"


def check_models(session: Session) -> str:
    session.require_endpoint()
    base = session.emulator_url(0.0) if session.emulated else None
    failed = []
    session.probe.reset()
    for model in session.info.models:
        try:
            text = session.bounded(partial(session.complete, base_url=base, model=model))
        except ProviderError as exc:
            failed.append(f"{model}: {type(exc).__name__}: {exc}")
            continue
        if not text:
            failed.append(f"{model}: {_shape_problem(session) or 'no text'}")
    if failed:
        raise Fail("; ".join(failed))
    return f"{len(session.info.models)} answered: {', '.join(session.info.models)}"

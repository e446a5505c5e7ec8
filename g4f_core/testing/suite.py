"""Run every conformance check on one provider and gather a :class:`Report`."""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable, Collection, Mapping

from g4f_core.context import env_flag
from g4f_core.errors import G4FError
from g4f_core.plugins.provider import InvalidProviderError, ProviderInfo
from g4f_core.plugins.registry import Registry, default_registry
from g4f_core.testing import call_checks, fault_checks, static_checks
from g4f_core.testing.report import CHECKS, FAIL, PASS, SKIP, Check, Report
from g4f_core.testing.session import Fail, Session, Skip

__all__ = ["run_conformance"]

_FUNCTIONS: dict[str, Callable[[Session], str]] = {
    "declarations": static_checks.check_declarations,
    "options": static_checks.check_options,
    "endpoint": call_checks.check_endpoint,
    "streaming": call_checks.check_streaming,
    "complete": call_checks.check_complete,
    "models": call_checks.check_models,
    "bad-input": fault_checks.check_bad_input,
    "timeout": fault_checks.check_timeout,
    "upstream-errors": fault_checks.check_upstream_errors,
    "early-stop": fault_checks.check_early_stop,
}
assert list(_FUNCTIONS) == [name for name, _ in CHECKS]


def run_conformance(
    provider: str | ProviderInfo | object,
    *,
    emulator: bool = True,
    registry: Registry | None = None,
    name: str | None = None,
    environ: Mapping[str, str] | None = None,
    only: Collection[str] | None = None,
) -> Report:
    """Check ``provider`` against the contract, on its emulator or (``emulator=False``) live.

    ``provider`` is an installed provider's name (looked up in ``registry``, by default
    the installed plugins; a name that failed to load raises ``ProviderNotFoundError``
    saying why), a :class:`~g4f_core.ProviderInfo`, or a provider module not installed
    yet (named by ``name``, else by its module name). ``environ`` defaults to the
    registry's (``os.environ`` for the installed plugins); against the emulator its
    ``G4F_CORE_*`` variables are ignored so that the run is the same everywhere.
    ``only`` runs just the named checks (see :data:`CHECKS`).
    """
    mode = "emulator" if emulator else "live"
    unknown = set(only or ()) - set(_FUNCTIONS)
    if unknown:
        raise ValueError(f"no such check: {', '.join(sorted(unknown))} (see CHECKS)")
    env = (registry or default_registry()).environ if environ is None else environ
    if emulator:
        env = {k: v for k, v in env.items() if not k.startswith("G4F_CORE_")}
    if isinstance(provider, str):
        info = (registry or default_registry()).get(provider)
    elif isinstance(provider, ProviderInfo):
        info = provider
    else:
        label = name or str(getattr(provider, "__name__", "provider")).rsplit(".", 1)[-1]
        try:
            info = ProviderInfo.from_module(provider, name=label)
        except InvalidProviderError as exc:
            return _unloadable(label, mode, str(exc))
    session = Session(info, mode=mode, environ=env)
    results = []
    try:
        for check_name, _ in CHECKS:
            if only is None or check_name in only:
                results.append(_run(session, check_name))
    finally:
        session.close()
    return Report(
        provider=info.name,
        mode=mode,
        checks=tuple(results),
        target=session.target,
        distribution=info.distribution,
        version=info.version,
    )


def _run(session: Session, name: str) -> Check:
    start = time.monotonic()
    try:
        detail = _FUNCTIONS[name](session)
        status = PASS
    except Skip as exc:
        status, detail = SKIP, str(exc)
    except Fail as exc:
        status, detail = FAIL, str(exc)
    except G4FError as exc:
        status, detail = FAIL, f"{type(exc).__name__}: {exc}"
    except Exception as exc:  # noqa: BLE001 - a crashing check is reported, never raised
        status, detail = FAIL, f"the check crashed: {type(exc).__name__}: {exc}"
        if env_flag("G4F_CORE_DEBUG"):
            detail += "\n" + traceback.format_exc()
    return Check(name, status, detail, time.monotonic() - start)


def _unloadable(name: str, mode: str, error: str) -> Report:
    checks = [Check("declarations", FAIL, f"the module breaks the provider contract: {error}")]
    checks += [Check(n, SKIP, "the provider did not load") for n, _ in CHECKS[1:]]
    return Report(provider=name, mode=mode, checks=tuple(checks))

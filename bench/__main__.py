"""``python -m bench``: run every section, print the summary, write the report files."""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from . import ROOT, concurrency, latency, memory, peers, profiles, scale, startup, throughput
from .common import Config, Section, log
from .protocol import check_against_provider
from .report import Run, console, markdown, plot
from .serve import EmulatorProcess

SECTIONS = (
    "throughput",
    "latency",
    "concurrency",
    "memory",
    "profiles",
    "startup",
    "scale",
    "peers",
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmark g4f-core against a raw client of the same protocol (issue 5).",
    )
    parser.add_argument("--quick", action="store_true", help="few iterations: a smoke run")
    parser.add_argument("--out", type=Path, help="write the Markdown report (and its plot) here")
    parser.add_argument(
        "--json",
        type=Path,
        default=ROOT / "bench" / "results" / "latest.json",
        help="write every figure and raw sample as JSON (default: bench/results/latest.json)",
    )
    parser.add_argument("--no-peers", action="store_true", help="skip gpt4free/llm/LiteLLM")
    parser.add_argument(
        "--only",
        metavar="SECTION",
        action="append",
        choices=SECTIONS,
        help="run only this section (repeatable)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    cfg = Config.quick_mode() if args.quick else Config(peers=not args.no_peers)
    wanted = set(args.only or SECTIONS)
    command = "python -m bench " + shlex.join(sys.argv[1:] if argv is None else list(argv))
    check_against_provider()
    started_at = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    load_start = f"{os.getloadavg()[0]:.2f}" if hasattr(os, "getloadavg") else "?"
    started = time.perf_counter()
    sections: list[Section] = []
    served: list[tuple[str, Callable[[Config, EmulatorProcess], Section]]] = [
        ("throughput", throughput.run),
        ("latency", latency.run),
        ("concurrency", concurrency.run),
        ("memory", memory.run),
        ("profiles", profiles.run),
    ]
    if wanted & {name for name, _ in served}:
        with EmulatorProcess() as emu:
            log(f"emulator: {emu.url} (pid {emu.pid})")
            for name, section_run in served:
                if name in wanted:
                    sections.append(section_run(cfg, emu))
    offline: list[tuple[str, Callable[[Config], Section]]] = [
        ("startup", startup.run),
        ("scale", scale.run),
        ("peers", peers.run),
    ]
    for name, offline_run in offline:
        if name in wanted:
            sections.append(offline_run(cfg))
    order = {name: i for i, name in enumerate(SECTIONS)}
    report_order = (
        "throughput",
        "latency",
        "concurrency",
        "startup",
        "scale",
        "memory",
        "peers",
        "profiles",
    )
    sections.sort(
        key=lambda s: report_order.index(s.key) if s.key in report_order else order[s.key]
    )
    run = Run(command, cfg.quick, started_at, time.perf_counter() - started, sections, load_start)
    print(console(run))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(run.to_dict(), indent=1, default=str) + "\n")
        log(f"wrote {args.json}")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        image = plot(run, args.out.parent / args.out.stem)
        args.out.write_text(markdown(run, image.name))
        log(f"wrote {args.out} and {image}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

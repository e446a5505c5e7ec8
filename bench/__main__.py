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
from types import ModuleType

from . import (
    ROOT,
    concurrency,
    first_call,
    gateway,
    latency,
    memory,
    openai,
    peers,
    profiles,
    scale,
    startup,
    throughput,
)
from .common import Config, Section
from .harness import Bench
from .plot import plot
from .protocol import check_against_provider
from .report import Run, console, machine, markdown

#: Every section, in report order; each module has ``KEY`` and ``run(bench) -> Section``.
SECTIONS: list[ModuleType] = [
    throughput,
    latency,
    concurrency,
    memory,
    first_call,
    startup,
    scale,
    openai,
    gateway,
    peers,
    profiles,
]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmark g4f-core against a raw client of the same protocol.",
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
        choices=[module.KEY for module in SECTIONS],
        help="run only this section (repeatable)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    cfg = Config.quick_mode() if args.quick else Config(peers=not args.no_peers)
    wanted = set(args.only or [module.KEY for module in SECTIONS])
    command = "python -m bench " + shlex.join(sys.argv[1:] if argv is None else list(argv))
    check_against_provider()
    started_at = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    load_start = f"{os.getloadavg()[0]:.2f}" if hasattr(os, "getloadavg") else "?"
    code = machine()["commit"]
    started = time.perf_counter()
    bench = Bench(cfg)
    sections: list[Section] = []
    try:
        for module in SECTIONS:
            if module.KEY in wanted:
                section_run: Callable[[Bench], Section] = module.run
                sections.append(section_run(bench))
    finally:
        bench.close()
    seconds = time.perf_counter() - started
    run = Run(command, cfg.quick, started_at, seconds, sections, load_start, code)
    print(console(run))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(run.to_dict(), indent=1, default=str) + "\n")
        print(f"wrote {args.json}", file=sys.stderr)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        image = plot(run, args.out.parent / args.out.stem)
        args.out.write_text(markdown(run, image.name))
        print(f"wrote {args.out} and {image}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

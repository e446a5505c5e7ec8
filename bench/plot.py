"""The report's figure: throughput and latency bars, g4f-core against the baselines.

A PNG with matplotlib when it is installed, else a hand-written SVG.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .common import Spread
from .report import Run

__all__ = ["plot"]


@dataclass(frozen=True)
class _Bar:
    label: str
    spread: Spread
    baseline: bool


def _panels(run: Run) -> list[tuple[str, str, list[_Bar]]]:
    def bars(pairs: Sequence[tuple[str, str, bool]]) -> list[_Bar]:
        found = []
        for key, label, baseline in pairs:
            fig = run.figure(key)
            if fig is not None and fig.value is not None:
                found.append(_Bar(label, fig.value, baseline))
        return found

    socket = run.figure("throughput.socket")
    limit = (
        f"one event per token; raw socket reader (the server's pace): "
        f"{socket.value.median:,.0f} tokens/s"
        if socket is not None and socket.value is not None
        else ""
    )
    return [
        (
            "Streaming throughput",
            f"tokens/s, higher is better; {limit}",
            bars(
                [
                    ("throughput.raw", "raw requests,\n1 stream", True),
                    ("throughput.g4f", "g4f-core,\n1 stream", False),
                    ("concurrency.raw", "raw requests,\n16 threads", True),
                    ("concurrency.g4f", "g4f-core,\n16 threads", False),
                ]
            ),
        ),
        (
            "Per-call latency",
            "milliseconds, lower is better",
            bars(
                [
                    ("latency.raw", "raw\nrequests", True),
                    ("latency.g4f", "g4f-core", False),
                    ("ttft.raw", "first token,\nraw", True),
                    ("ttft.g4f", "first token,\ng4f-core", False),
                ]
            ),
        ),
    ]


def _shown(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 or value == 0 else f"{value:.2f}"


def plot(run: Run, target: Path) -> Path:
    """A PNG with matplotlib when it is installed, else a hand-written SVG; returns the path."""
    panels = _panels(run)
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        path = target.with_suffix(".svg")
        path.write_text(_svg(panels))
        return path
    path = target.with_suffix(".png")
    fig, axes = plt.subplots(1, len(panels), figsize=(12, 4.8))
    for ax, (title, unit, items) in zip(axes, panels, strict=True):
        x = list(range(len(items)))
        heights = [b.spread.median for b in items]
        errors = [
            [b.spread.median - b.spread.low for b in items],
            [b.spread.high - b.spread.median for b in items],
        ]
        colours = ["#9aa5b1" if b.baseline else "#2f6fb3" for b in items]
        ax.bar(x, heights, color=colours, yerr=errors, capsize=4)
        ax.set_xticks(x, [b.label for b in items], fontsize=8)
        ax.set_title(title)
        ax.set_xlabel(unit, fontsize=8)
        ax.yaxis.set_major_formatter(lambda value, _pos: _shown(value))
        ax.set_ylim(0, max((b.spread.high for b in items), default=1.0) * 1.15)
        for xi, bar in zip(x, items, strict=True):
            ax.annotate(
                _shown(bar.spread.median),
                (xi, bar.spread.high),
                xytext=(0, 3),
                textcoords="offset points",
                ha="center",
                va="bottom",
                fontsize=8,
            )
    fig.suptitle("g4f-core (blue) against the baselines (grey): median and min-max over rounds")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _svg(panels: list[tuple[str, str, list[_Bar]]]) -> str:
    """The same two bar charts, written by hand: no plotting library needed."""
    width, height, pad = 460, 320, 50
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width * len(panels)}" '
        f'height="{height + 40}" font-family="sans-serif" font-size="11">',
        f'<rect width="{width * len(panels)}" height="{height + 40}" fill="white"/>',
    ]
    for index, (title, unit, items) in enumerate(panels):
        left = index * width + pad
        top, bottom = 45, height - 40
        peak = max((b.spread.high for b in items), default=1.0) or 1.0
        step = (width - 2 * pad) / max(len(items), 1)
        parts.append(f'<text x="{left}" y="20" font-size="14">{html.escape(title)}</text>')
        parts.append(
            f'<text x="{left}" y="{height + 12}" fill="#555" font-size="9">'
            f"{html.escape(unit)}</text>"
        )
        parts.append(
            f'<line x1="{left}" y1="{bottom}" x2="{left + width - 2 * pad}" y2="{bottom}" '
            'stroke="black"/>'
        )
        for i, bar in enumerate(items):
            scale = (bottom - top) / peak
            x = left + i * step + step * 0.15
            w = step * 0.7
            h = bar.spread.median * scale
            colour = "#9aa5b1" if bar.baseline else "#2f6fb3"
            parts.append(
                f'<rect x="{x:.1f}" y="{bottom - h:.1f}" width="{w:.1f}" height="{h:.1f}" '
                f'fill="{colour}"/>'
            )
            cx = x + w / 2
            y_low, y_high = bottom - bar.spread.low * scale, bottom - bar.spread.high * scale
            parts.append(
                f'<line x1="{cx:.1f}" y1="{y_low:.1f}" x2="{cx:.1f}" y2="{y_high:.1f}" '
                'stroke="black"/>'
            )
            parts.append(
                f'<text x="{cx:.1f}" y="{y_high - 4:.1f}" text-anchor="middle">'
                f"{_shown(bar.spread.median)}</text>"
            )
            for n, line in enumerate(bar.label.split("\n")):
                parts.append(
                    f'<text x="{cx:.1f}" y="{bottom + 14 + 12 * n}" text-anchor="middle">'
                    f"{html.escape(line)}</text>"
                )
    parts.append(
        f'<text x="{pad}" y="{height + 30}" fill="#555">g4f-core (blue) against the baselines '
        "(grey): median, min-max over rounds</text>"
    )
    parts.append("</svg>")
    return "\n".join(parts) + "\n"

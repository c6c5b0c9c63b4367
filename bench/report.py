"""Save a benchmark's figures as JSON and a PNG plot, with the machine they were measured on."""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import platform
from collections.abc import Mapping, Sequence
from typing import Any

RESULTS = pathlib.Path(__file__).parent / "results"


def machine() -> dict[str, Any]:
    cpu_model = "unknown"
    for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu_model = line.split(":", 1)[1].strip()
            break
    memory_kib = next(
        int(line.split()[1]) for line in pathlib.Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal")
    )
    return {
        "cpus": os.cpu_count(),
        "cpu_model": cpu_model,
        "memory_gib": round(memory_kib / 1024 / 1024, 1),
        "python": platform.python_version(),
        "kernel": platform.release(),
    }


def _write_json(name: str, **content: Any) -> pathlib.Path:
    """bench/results/NAME.json: the benchmark's name, the machine it ran on, then its content."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    json_path = RESULTS / f"{name}.json"
    json_path.write_text(json.dumps({"benchmark": name, "machine": machine(), **content}, indent=2) + "\n")
    return json_path


def save(
    name: str,
    *,
    figures: Mapping[str, Any],
    series: Mapping[str, Sequence[tuple[float, float]]],
    x_label: str,
    y_label: str,
    title: str,
    panels: Mapping[str, Sequence[str]] | None = None,
) -> tuple[pathlib.Path, pathlib.Path]:
    """`panels` (title: series names) draws one plot per panel, one above the other, instead of one for all."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    json_path = _write_json(name, figures=dict(figures), series={k: list(v) for k, v in series.items()})
    groups = dict(panels) if panels else {title: list(series)}
    figure, grid = plt.subplots(len(groups), 1, figsize=(8, 3.2 * len(groups) + 1.3), squeeze=False, sharex=True)
    for axes, (panel, names) in zip(grid[:, 0], groups.items()):
        for label in names:
            points = series[label]
            axes.plot([x for x, _ in points], [y for _, y in points], label=label)
        axes.set_ylabel(y_label)
        axes.set_title(panel if panels else title, fontsize=10)
        axes.grid(True, alpha=0.3)
        axes.legend(fontsize=8)
    grid[-1, 0].set_xlabel(x_label)
    if panels:
        figure.suptitle(title)
    summary = ", ".join(f"{key}={value}" for key, value in figures.items() if isinstance(value, (int, float)))
    figure.text(0.01, 0.01, summary[:160], fontsize=7)
    png_path = RESULTS / f"{name}.png"
    figure.savefig(png_path, dpi=110, bbox_inches="tight")
    plt.close(figure)
    return json_path, png_path


@dataclasses.dataclass(frozen=True)
class Bar:
    """One bar of a grouped bar chart: its height and, when given, a whisker up to `high` (a maximum), and a
    note written in place of its value. With no value (nothing measured on the chart's axis) only the note
    is drawn, on a hatched outline, so that an absent bar reads as absent and says why."""

    value: float | None
    high: float | None = None
    note: str | None = None


def save_bars(
    name: str,
    *,
    figures: Mapping[str, Any],
    panels: Mapping[str, Mapping[str, Mapping[str, Bar]]],
    y_label: str,
    title: str,
) -> tuple[pathlib.Path, pathlib.Path]:
    """Figures as JSON and a PNG of grouped bars: one plot per panel (title: group: bar name: Bar), the bars of
    each group side by side, each labelled with its value, in the same colour for the same bar name everywhere."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    json_path = _write_json(
        name, figures=dict(figures),
        bars={panel: {group: {label: dataclasses.asdict(bar) for label, bar in bars.items()} for group, bars in groups.items()}
              for panel, groups in panels.items()},
    )
    labels = list(dict.fromkeys(label for groups in panels.values() for bars in groups.values() for label in bars))
    colours = {label: f"C{index}" for index, label in enumerate(labels)}
    figure, grid = plt.subplots(max(1, len(panels)), 1, figsize=(9, 3.4 * max(1, len(panels)) + 1.0), squeeze=False)
    if not panels:
        grid[0, 0].text(0.5, 0.5, "no results", ha="center", va="center")
    width = 0.8 / max(1, len(labels))
    for axes, (panel, groups) in zip(grid[:, 0], panels.items()):
        labelled: set[str] = set()
        # An absent bar's outline reaches a quarter of the panel's tallest bar: visible whatever the scale.
        tallest = max([bar.high or bar.value for bars in groups.values() for bar in bars.values() if bar.value is not None] or [1.0])
        for group_index, bars in enumerate(groups.values()):
            for label_index, label in enumerate(labels):
                bar = bars.get(label)
                if bar is None:
                    continue
                x = group_index + (label_index - (len(labels) - 1) / 2) * width
                legend = label if label not in labelled else None
                labelled.add(label)
                if bar.value is None:
                    axes.bar(x, tallest / 4, width=width * 0.95, fill=False, hatch="//", edgecolor=colours[label], label=legend)
                    axes.annotate(bar.note or "no value", (x, tallest / 4), xytext=(0, 3), textcoords="offset points",
                                  ha="center", va="bottom", rotation=90, fontsize=7)
                    continue
                axes.bar(x, bar.value, width=width * 0.95, color=colours[label], label=legend)
                top = bar.value
                if bar.high is not None and bar.high > bar.value:
                    axes.plot([x, x], [bar.value, bar.high], color="black", linewidth=1)
                    top = bar.high
                text = f"{bar.value:.3g}" if bar.note is None else f"{bar.value:.3g} {bar.note}"
                axes.annotate(text, (x, top), xytext=(0, 2), textcoords="offset points", ha="center", fontsize=7)
        axes.set_xticks(range(len(groups)), list(groups))
        axes.set_ylabel(y_label)
        axes.set_title(panel, fontsize=10)
        axes.grid(True, axis="y", alpha=0.3)
        axes.legend(fontsize=8)
    figure.suptitle(title)
    png_path = RESULTS / f"{name}.png"
    figure.savefig(png_path, dpi=110, bbox_inches="tight")
    plt.close(figure)
    return json_path, png_path

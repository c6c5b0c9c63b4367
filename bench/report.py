"""Save a benchmark's figures as JSON and a PNG plot, with the machine they were measured on."""

from __future__ import annotations

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

    RESULTS.mkdir(parents=True, exist_ok=True)
    document = {"benchmark": name, "machine": machine(), "figures": dict(figures), "series": {k: list(v) for k, v in series.items()}}
    json_path = RESULTS / f"{name}.json"
    json_path.write_text(json.dumps(document, indent=2) + "\n")
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

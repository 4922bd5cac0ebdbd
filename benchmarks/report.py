"""The outputs: the JSON result file, the printed table, the plot."""

from __future__ import annotations

import json
import os
import platform
import sys
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .stats import Figure

SCHEMA = 1


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text(errors="replace").splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        usable = os.cpu_count() or 0
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {
        "nproc": usable,
        "cpu_count": os.cpu_count(),
        "cpu_model": model,
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "load_average_at_start": list(load) if load else None,
    }


def write_json(path: Path, document: dict[str, Any]) -> None:
    """Write ``document`` to ``path`` atomically (a ``.tmp`` file renamed into place)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    scratch = path.with_name(path.name + ".tmp")
    scratch.write_text(json.dumps(document, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    os.replace(scratch, path)


def _number(value: float | None, digits: int = 2) -> str:
    if value is None:
        return "-"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.{digits}f}"


def _verdicts(title: str, results: Sequence[dict[str, Any]]) -> list[str]:
    lines = [f"{title:<62} {'measured':>10} {'bound':>10}  verdict"]
    for result in results:
        unit = f" {result['unit']}" if result["unit"] in ("ms", "MiB") else ""
        bound = f"{result['comparison']} {_number(result['bound'])}{unit}"
        if result["met"] is None:
            verdict = f"unknown ({result['why_unknown']})"
        else:
            verdict = "met" if result["met"] else "NOT MET"
        lines.append(f"{result['name']:<62} {_number(result['ratio'], 3):>10} {bound:>10}  "
                     f"{verdict}")
    return lines


def table(figures: dict[str, Figure], results: Sequence[dict[str, Any]],
          header: Sequence[str], diagnosed: Sequence[dict[str, Any]] = ()) -> str:
    """The printed summary: settings, every figure's median, every target met or not, and
    the diagnostic ratios (not targets) that were measured."""
    lines = [*header, ""]
    lines.append(f"{'figure':<62} {'median':>10} {'unit':<9} {'p50 ms':>8} {'p99 ms':>8} runs")
    for figure in figures.values():
        if figure.skipped:
            lines.append(f"{figure.label:<62} skipped: {figure.skipped}")
            continue
        medians = figure.medians()
        lines.append(
            f"{figure.label:<62} {_number(figure.value):>10} {figure.unit:<9} "
            f"{_number(medians.get('p50_ms')):>8} {_number(medians.get('p99_ms')):>8} "
            f"{len(figure.runs)}"
        )
        extra = []
        if "argon2_ms_per_call" in medians:
            extra.append(
                f"per call {_number(medians.get('ms_per_call'), 3)} ms: argon2 "
                f"{_number(medians.get('argon2_ms_per_call'), 3)}, gateway "
                f"{_number(medians.get('gateway_ms_per_call'), 3)}, rest "
                f"{_number(medians.get('outside_ms_per_call'), 3)}"
            )
        if "peak_rss_mib" in medians and figure.value_key != "peak_rss_mib":
            extra.append(f"server peak RSS {_number(medians.get('peak_rss_mib'), 1)} MiB")
        if medians.get("server_cpu_ms_per_req") is not None:
            extra.append(
                f"server per request: {_number(medians.get('server_cpu_ms_per_req'), 3)} ms "
                f"CPU ({_number(medians.get('server_sys_ms_per_req'), 3)} in the kernel), "
                f"{_number(medians.get('server_switches_per_req'), 1)} context switches"
            )
        if medians.get("database_cpu_ms_per_req") is not None:
            extra.append(
                "database server per request: "
                f"{_number(medians.get('database_cpu_ms_per_req'), 3)} ms CPU"
                " (every postgres process of this machine)"
            )
        extra.extend(dict.fromkeys(figure.notes))
        lines.extend(f"    {text}" for text in extra)
    lines.append("")
    lines.extend(_verdicts("target", results))
    measured = [result for result in diagnosed if result["ratio"] is not None]
    if measured:
        lines.append("")
        lines.extend(_verdicts("diagnostic (not a target)", measured))
    return "\n".join(lines)


def plot(path: Path, figures: dict[str, Figure], results: Sequence[dict[str, Any]],
         title: str) -> str | None:
    """Draw throughputs and target attainment to ``path``; None, or why nothing was drawn."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib is not installed (pip install matplotlib)"
    rates = [f for f in figures.values() if f.unit in ("req/s", "verify/s") and f.value]
    attained = [r for r in results if r["ratio"] is not None]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(11, 9.5),
                                      gridspec_kw={"height_ratios": [3, 2]})
    if rates:
        values = [f.value or 0.0 for f in rates]
        lows = [f.value - min(r[f.value_key] for r in f.runs) for f in rates if f.value]
        highs = [max(r[f.value_key] for r in f.runs) - f.value for f in rates if f.value]
        top.barh([f.label for f in rates], values, xerr=[lows, highs], color="#4878a8",
                 capsize=3)
        top.set_xscale("log")
        top.set_xlim(right=max(values) * 4)  # room for the value labels
        top.set_xlabel("per second (median; whiskers: slowest and fastest run; log scale)")
        top.invert_yaxis()
        for y, value in enumerate(values):
            top.text(value, y, f" {value:,.1f}", va="center", fontsize=8)
    top.set_title(title, fontsize=10)
    if attained:
        # Above 1 is met, whichever way the bound points.
        scores = [
            r["ratio"] / r["bound"] if r["comparison"] == ">=" else r["bound"] / r["ratio"]
            for r in attained
        ]
        colours = ["#3a923a" if r["met"] else "#c03d3d" for r in attained]
        bottom.barh([r["name"] for r in attained], scores, color=colours)
        bottom.axvline(1.0, color="black", linewidth=1)
        bottom.set_xlim(0, max(*scores, 1.0) * 1.35)  # room for the value labels
        bottom.set_xlabel("target attainment (measured vs bound; > 1 is met)")
        bottom.invert_yaxis()
        for y, (score, r) in enumerate(zip(scores, attained, strict=True)):
            bottom.text(score, y, f" {r['ratio']:.3g} ({r['comparison']} {r['bound']:g})",
                        va="center", fontsize=8)
    for axis in (top, bottom):
        axis.tick_params(axis="y", labelsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return None

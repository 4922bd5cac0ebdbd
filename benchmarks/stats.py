"""Figures: raw runs, their medians, and the targets read off them."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any


def percentile(values: Sequence[float], fraction: float) -> float | None:
    """The ``fraction`` (0..1) percentile by the nearest-rank method; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(fraction * len(ordered) + 0.5)))
    return ordered[rank - 1]


def median(values: Sequence[float | None]) -> float | None:
    """The median of the values that are not None; None when there are none."""
    present = [value for value in values if value is not None]
    return statistics.median(present) if present else None


@dataclass
class Figure:
    """One measured quantity: its runs (dicts of raw numbers) and the key its median is of.

    ``value_key`` names the number in each run that the figure stands for; the medians of
    every other numeric key are kept too (latencies, memory, shares of time).
    """

    name: str
    label: str
    unit: str
    value_key: str
    runs: list[dict[str, Any]] = field(default_factory=list)
    skipped: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def value(self) -> float | None:
        """The median of ``value_key`` over the runs (None when skipped or never run)."""
        if self.skipped:
            return None
        return median([run.get(self.value_key) for run in self.runs])

    def medians(self) -> dict[str, float | None]:
        """The median of every numeric key over the runs."""
        keys = sorted(
            {
                key
                for run in self.runs
                for key, value in run.items()
                if isinstance(value, (int, float)) and not isinstance(value, bool)
            }
        )
        return {key: median([run.get(key) for run in self.runs]) for key in keys}

    def to_json(self) -> dict[str, Any]:
        """The figure as stored in the result file."""
        return {
            "label": self.label,
            "unit": self.unit,
            "value_key": self.value_key,
            "value": self.value,
            "medians": {} if self.skipped else self.medians(),
            "runs": self.runs,
            "skipped": self.skipped,
            "notes": self.notes,
        }


@dataclass(frozen=True)
class Target:
    """``numerator / denominator`` (or one figure against a constant) compared with a bound.

    ``at_least`` True means the ratio must be >= ``bound``, else <= ``bound``.
    """

    name: str
    numerator: str
    denominator: str | None
    bound: float
    at_least: bool
    unit: str = ""

    def evaluate(self, figures: dict[str, Figure]) -> dict[str, Any]:
        """The measured ratio and whether the target is met (None when it cannot be told)."""
        top = figures.get(self.numerator)
        bottom = figures.get(self.denominator) if self.denominator else None
        missing = [
            f"{name}: {figure.skipped if figure else 'not run'}"
            for name, figure in ((self.numerator, top), (self.denominator, bottom))
            if name and (figure is None or figure.value is None)
        ]
        ratio: float | None = None
        if not missing and top is not None and top.value is not None:
            if bottom is None:
                ratio = top.value
            elif bottom.value:
                ratio = top.value / bottom.value
            else:
                missing.append(f"{self.denominator}: zero")
        met: bool | None = None
        if ratio is not None:
            met = ratio >= self.bound if self.at_least else ratio <= self.bound
        return {
            "name": self.name,
            "numerator": self.numerator,
            "denominator": self.denominator,
            "ratio": ratio,
            "bound": self.bound,
            "comparison": ">=" if self.at_least else "<=",
            "unit": self.unit,
            "met": met,
            "why_unknown": "; ".join(missing) or None,
        }

"""Prometheus text format 0.0.4, written faster than prometheus-client's generate_latest.

Same output rules (HELP/TYPE lines, ``_total`` for counters, OpenMetrics-only samples moved
to gauges), but metric and label names are not re-validated for every sample: the broker's
collectors use fixed, valid names. A scrape of thousands of partition series runs on the
event loop, so its cost is per-line string work only.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from prometheus_client.registry import Collector
from prometheus_client.samples import Sample

_OM_SUFFIXES = ("_created", "_gsum", "_gcount")
_TYPES = {"info": "gauge", "stateset": "gauge", "gaugehistogram": "histogram", "unknown": "untyped"}


def _escape(value: str) -> str:
    if "\\" in value or '"' in value or "\n" in value:
        return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")
    return value


def _number(value: float) -> str:
    if type(value) is int:
        return str(value)
    v = float(value)
    if math.isfinite(v):
        return repr(v)
    if math.isnan(v):
        return "NaN"
    return "+Inf" if v > 0 else "-Inf"


def _line(sample: Sample) -> str:
    labels = sample.labels
    if labels:
        inner = ",".join([f'{k}="{_escape(v)}"' for k, v in labels.items()])
        text = f"{sample.name}{{{inner}}} {_number(sample.value)}"
    else:
        text = f"{sample.name} {_number(sample.value)}"
    if sample.timestamp is not None:
        text += f" {int(float(sample.timestamp) * 1000):d}"
    return text + "\n"


def render(collectors: Iterable[Collector]) -> bytes:
    """The text exposition of every metric the collectors (or a registry) yield."""
    out: list[str] = []
    for collector in collectors:
        for metric in collector.collect():
            name, kind = metric.name, metric.type
            if kind == "counter":
                shown = name + "_total"
            elif kind == "info":
                shown = name + "_info"
            else:
                shown = name
            doc = metric.documentation.replace("\\", r"\\").replace("\n", r"\n")
            out.append(f"# HELP {shown} {doc}\n# TYPE {shown} {_TYPES.get(kind, kind)}\n")
            extra: dict[str, list[str]] = {}
            for sample in metric.samples:
                suffix = (
                    next((x for x in _OM_SUFFIXES if sample.name == name + x), None)
                    if sample.name.endswith(_OM_SUFFIXES)
                    else None
                )
                if suffix is not None:
                    extra.setdefault(suffix, []).append(_line(sample))
                else:
                    out.append(_line(sample))
            for suffix, lines in extra.items():
                out.append(f"# HELP {name}{suffix} {doc}\n# TYPE {name}{suffix} gauge\n")
                out.extend(lines)
    return "".join(out).encode("utf-8")

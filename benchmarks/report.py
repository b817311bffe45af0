"""The comparison tables of compare.py: pure functions from result dicts to text.

A result dict per target (``tansu``, ``kafka``, ``josef``, ``kafka-rf3``, ``josef-rf3``)
holds ``workloads``: workload name → the median run (``records_per_s``/``mb_per_s``,
``p50_ms``/``p99_ms``/``max_ms``, or ``failover_s``) or ``{"error": ...}``.

Ratios are Josef/peer. For throughput, records/s (higher is better: 1.00 = as fast).
For latency and failover they are Josef's p99 (or seconds) over the peer's, where lower is
better; those cells carry a trailing "(lower=better)" marker in the legend, not per cell.
"""

from __future__ import annotations

from typing import Any

LATENCY_TARGET_P99_MS = 10.0
RF3_PRODUCE_TARGET = 0.5  # issue 7: RF=3 acks=all produce >= 0.5x single-node

PEER_TITLES = {
    "tansu": "Tansu (memory)",
    "kafka": "Kafka 3.9.1 (disk)",
    "josef": "Josef (disk)",
    "kafka-rf3": "Kafka RF=3",
    "josef-rf3": "Josef RF=3",
}


def kind(name: str) -> str:
    """``throughput``, ``latency`` or ``failover`` for a workload name."""
    if name.startswith("latency"):
        return "latency"
    if name.startswith("failover"):
        return "failover"
    return "throughput"


def ok(d: dict[str, Any] | None) -> bool:
    return d is not None and "error" not in d


def fmt_cell(name: str, d: dict[str, Any] | None) -> str:
    if d is None:
        return "-"
    if "error" in d:
        return "FAILED"
    k = kind(name)
    if k == "latency":
        return f"p50 {d['p50_ms']:.2f} / p99 {d['p99_ms']:.2f} / max {d['max_ms']:.1f} ms"
    if k == "failover":
        return f"{d['failover_s']:.2f} s ({d['old_leader']}→{d['new_leader']})"
    cpu = f", cpu {d['broker_cpu_pct']}%" if "broker_cpu_pct" in d else ""
    return f"{d['records_per_s'] / 1e3:,.0f} k rec/s, {d['mb_per_s']:,.1f} MB/s{cpu}"


def metric(name: str, d: dict[str, Any]) -> float:
    """The number a ratio is taken of: records/s, p99 ms or failover seconds."""
    k = kind(name)
    if k == "latency":
        return float(d["p99_ms"])
    if k == "failover":
        return float(d["failover_s"])
    return float(d["records_per_s"])


def ratio(name: str, josef: dict[str, Any] | None, peer: dict[str, Any] | None) -> str:
    """Josef/peer of the row's metric, two decimals; '-' when either side is missing."""
    if not (ok(josef) and ok(peer)):
        return "-"
    assert josef is not None and peer is not None
    denominator = metric(name, peer)
    if denominator == 0:
        return "-"
    return f"{metric(name, josef) / denominator:.2f}"


def latency_verdict(d: dict[str, Any] | None) -> str:
    if not ok(d):
        return "-"
    assert d is not None
    mark = "ok" if d["p99_ms"] <= LATENCY_TARGET_P99_MS else "MISSES"
    return f"p99 ≤ {LATENCY_TARGET_P99_MS:g} ms: {mark}"


def render(rows: list[tuple[str, ...]]) -> str:
    """A plain-text table; the first row is the header."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for k, row in enumerate(rows):
        lines.append(" | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))
        if k == 0:
            lines.append("-+-".join("-" * w for w in widths))
    return "\n".join(lines)


def _names(*tables: dict[str, Any]) -> list[str]:
    return list(dict.fromkeys(n for t in tables for n in t))


def _workloads(results: dict[str, Any], target: str) -> dict[str, Any]:
    return dict(results.get(target, {}).get("workloads", {}))


def single_node_table(results: dict[str, Any]) -> str:
    tansu, kafka, josef = (_workloads(results, t) for t in ("tansu", "kafka", "josef"))
    rows: list[tuple[str, ...]] = [
        ("single node", PEER_TITLES["tansu"], PEER_TITLES["kafka"], PEER_TITLES["josef"],
         "Josef/Kafka", "Josef/Tansu", "target")
    ]
    for name in _names(tansu, kafka, josef):
        t, k, j = tansu.get(name), kafka.get(name), josef.get(name)
        target = latency_verdict(j) if kind(name) == "latency" else ""
        rows.append((name, fmt_cell(name, t), fmt_cell(name, k), fmt_cell(name, j),
                     ratio(name, j, k), ratio(name, j, t), target))
    return render(rows)


def _rf3_target(name: str, rf3: dict[str, Any] | None, single: dict[str, Any] | None) -> str:
    k = kind(name)
    if k == "latency":
        return latency_verdict(rf3)
    if k == "failover":
        if not ok(rf3):
            return "-"
        assert rf3 is not None
        limit = rf3.get("target_s")
        if limit is None:
            return ""
        mark = "ok" if rf3["failover_s"] <= limit else "MISSES"
        return f"≤ {limit:g} s: {mark}"
    if "acks=all" in name and "produce" in name and ok(rf3) and ok(single):
        assert rf3 is not None and single is not None
        r = metric(name, rf3) / metric(name, single)
        mark = "ok" if r >= RF3_PRODUCE_TARGET else "MISSES"
        return f"≥ {RF3_PRODUCE_TARGET:g}x single: {mark}"
    return ""


def rf3_table(results: dict[str, Any]) -> str:
    kafka, josef = _workloads(results, "kafka-rf3"), _workloads(results, "josef-rf3")
    kafka1, josef1 = _workloads(results, "kafka"), _workloads(results, "josef")
    rows: list[tuple[str, ...]] = [
        ("RF=3, min.insync.replicas=2", PEER_TITLES["kafka-rf3"], PEER_TITLES["josef-rf3"],
         "Josef/Kafka", "Kafka RF3/1", "Josef RF3/1", "target (Josef)")
    ]
    for name in _names(kafka, josef):
        k, j = kafka.get(name), josef.get(name)
        rows.append((name, fmt_cell(name, k), fmt_cell(name, j), ratio(name, j, k),
                     ratio(name, k, kafka1.get(name)), ratio(name, j, josef1.get(name)),
                     _rf3_target(name, j, josef1.get(name))))
    return render(rows)


LEGEND = (
    "Ratios: throughput rows compare records/s (higher = Josef faster); latency rows p99 and\n"
    "failover rows seconds (lower = Josef faster). 'RF3/1' is the RF=3 figure over the same\n"
    "peer's single-node figure for the same workload (the 5 MB/s latency row is run on both)."
)

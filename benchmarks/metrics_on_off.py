"""What metrics cost a real broker: produce and consume with josef.metrics.enabled on vs off.

    python benchmarks/metrics_on_off.py [--records 300000] [--size 100] [--repeat 3]
                                        [--acks 1] [--batch-bytes N] [--json out.json]

Two Josef broker processes from this source tree, identical but for
``josef.metrics.enabled``, run side by side; rounds alternate which one goes first (the
machine's load drifts). Each round produces ``--records`` records of ``--size`` bytes to a
new one-partition topic with confluent-kafka, then consumes them back. ``--batch-bytes``
(librdkafka batch.size, with linger.ms=0) makes requests small and many: metrics cost per
request, so that is their worst case. Reported per broker:
the best records/s of the rounds and the broker's CPU time per record (from /proc, less
noisy than wall time on a shared machine), and the on/off ratios; the issue's target is
metrics on at most 3% slower.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from brokers import BrokerProcess, kill_all, make_josef
from workloads import consume_throughput, create_topic, produce_throughput

MODES = ("on", "off")


@dataclass
class Samples:
    """One broker's rounds of one workload: records/s and broker CPU µs per record."""

    rates: list[float] = field(default_factory=list)
    cpu_us: list[float] = field(default_factory=list)

    def add(self, records: int, seconds: float, cpu_s: float) -> None:
        self.rates.append(records / seconds)
        self.cpu_us.append(cpu_s / records * 1e6)


def summary(results: dict[str, dict[str, Samples]]) -> dict[str, dict[str, float]]:
    """Per workload: best rate and median CPU per record of each mode, and on/off ratios
    (rate ratio < 1 and CPU ratio > 1 mean metrics cost something)."""
    out: dict[str, dict[str, float]] = {}
    for workload, modes in results.items():
        on, off = modes["on"], modes["off"]
        row = {
            "on_records_per_s": max(on.rates),
            "off_records_per_s": max(off.rates),
            "on_cpu_us_per_record": statistics.median(on.cpu_us),
            "off_cpu_us_per_record": statistics.median(off.cpu_us),
        }
        row["rate_ratio"] = row["on_records_per_s"] / row["off_records_per_s"]
        row["cpu_ratio"] = row["on_cpu_us_per_record"] / row["off_cpu_us_per_record"]
        out[workload] = row
    return out


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=300_000)
    parser.add_argument("--size", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--acks", default="1", choices=("0", "1", "all"))
    parser.add_argument("--batch-bytes", type=int, default=None)
    parser.add_argument("--json", type=Path, default=None)
    return parser.parse_args(argv)


def run(args: argparse.Namespace) -> dict[str, dict[str, float]]:
    results: dict[str, dict[str, Samples]] = {
        "produce": {m: Samples() for m in MODES},
        "consume": {m: Samples() for m in MODES},
    }
    overrides = (
        {"batch.size": args.batch_bytes, "linger.ms": 0} if args.batch_bytes is not None else None
    )
    with tempfile.TemporaryDirectory(prefix="josef-metrics-bench-") as tmp:
        brokers: dict[str, BrokerProcess] = {
            mode: make_josef(
                Path(tmp),
                overrides={"josef.metrics.enabled": "true" if mode == "on" else "false"},
                name=f"josef-metrics-{mode}",
            )
            for mode in MODES
        }
        try:
            for broker in brokers.values():
                broker.start()
            for broker in brokers.values():
                broker.wait_ready()
            for round_no in range(args.repeat):
                order = MODES if round_no % 2 == 0 else tuple(reversed(MODES))
                for mode in order:
                    broker = brokers[mode]
                    topic = f"bench-{round_no}"
                    create_topic(broker.bootstrap, topic)
                    cpu = broker.cpu_seconds()
                    produced = produce_throughput(
                        broker.bootstrap, topic, args.size, args.records, args.acks, overrides
                    )
                    cpu_produce = broker.cpu_seconds() - cpu
                    results["produce"][mode].add(args.records, produced.seconds, cpu_produce)
                    cpu = broker.cpu_seconds()
                    consumed = consume_throughput(broker.bootstrap, topic, args.size, args.records)
                    cpu_consume = broker.cpu_seconds() - cpu
                    results["consume"][mode].add(args.records, consumed.seconds, cpu_consume)
                    print(
                        f"round {round_no + 1} metrics {mode:3s}: produce "
                        f"{args.records / produced.seconds:10,.0f} rec/s "
                        f"({cpu_produce / args.records * 1e6:.2f} µs CPU/rec), consume "
                        f"{args.records / consumed.seconds:10,.0f} rec/s "
                        f"({cpu_consume / args.records * 1e6:.2f} µs CPU/rec)",
                        flush=True,
                    )
        finally:
            kill_all()
    return summary(results)


def main() -> None:
    args = parse_args()
    table = run(args)
    batching = f", batch.size={args.batch_bytes}" if args.batch_bytes is not None else ""
    print(
        f"\n{args.records:,} records of {args.size} B, acks={args.acks}{batching}, "
        f"{args.repeat} rounds"
    )
    for workload, row in table.items():
        print(
            f"{workload:8s} on {row['on_records_per_s']:10,.0f} rec/s, off "
            f"{row['off_records_per_s']:10,.0f} rec/s: on/off rate {row['rate_ratio']:.3f}; "
            f"broker CPU per record on/off {row['cpu_ratio']:.3f}"
        )
    if args.json is not None:
        args.json.write_text(json.dumps(table, indent=2))


if __name__ == "__main__":
    main()

"""Benchmark Josef against Tansu with the confluent-kafka client.

One run starts each broker in turn as a subprocess on a free loopback port, runs the same
workloads against it (never both brokers loaded at once), stops it, and prints a table::

    python benchmarks/compare.py [--quick] [--only produce|consume|latency] [--records N]
                                 [--josef-only | --tansu-only] [--profile]

Workloads (all on a one-partition topic created with AdminClient):

* produce throughput: 100-byte and 1 KiB records, acks=1 and acks=all, linger.ms=5,
  batch.size=1 MiB, no compression; timed from the first ``produce()`` to the end of
  ``flush()``.
* consume throughput: the acks=all topics read back from offset 0 with an assigned
  Consumer (no group, no commits), timed until N records have arrived.
* end-to-end latency: a producer paced at 10 MB/s of 1 KiB records, a consumer process on
  the same partition; the send time (``time.time_ns()``) is embedded in each value and the
  consumer records receive time minus send time.

Tansu keeps its data in memory (``memory://``); Josef writes segments to disk. Results are
written to ``benchmarks/results/<timestamp>.json``.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import dataclasses
import datetime as _dt
import functools
import itertools
import json
import os
import platform
import re
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import confluent_kafka
from brokers import (
    REPO,
    BrokerFailed,
    BrokerProcess,
    PySpy,
    kill_all,
    make_josef,
    make_tansu,
    on_signal,
    top_functions,
)
from workloads import (
    DEFAULT_RECORDS,
    LATENCY_FETCH_WAITS_MS,
    LATENCY_TARGET_P99_MS,
    Latency,
    Throughput,
    consume_throughput,
    create_topic,
    end_to_end_latency,
    produce_throughput,
)

RESULTS_DIR = REPO / "benchmarks" / "results"


@dataclass
class Plan:
    produce: bool
    consume: bool
    latency: bool
    records: dict[int, int]
    latency_seconds: float
    profile: bool
    results_dir: Path
    repeat: int = 1


def produce_workloads() -> Iterator[tuple[int, str]]:
    for size in (100, 1024):
        for acks in ("1", "all"):
            yield size, acks


def _size_name(size: int) -> str:
    return "1KiB" if size == 1024 else f"{size}B"


def run_broker(broker: BrokerProcess, plan: Plan, stamp: str) -> dict[str, Any]:
    """Start one broker, run every planned workload, stop it. Never raises for a workload."""
    results: dict[str, Any] = {"workloads": {}, "profiles": {}}
    print(f"\n== {broker.name}: starting ({' '.join(broker.argv[:3])} ...)", flush=True)
    broker.start()
    try:
        broker.wait_ready()
    except BrokerFailed as exc:
        print(f"!! {exc}\n-- last lines of {broker.log_path}:\n{broker.log_tail()}", flush=True)
        broker.stop()
        results["error"] = exc.reason
        results["log_tail"] = broker.log_tail()
        return results
    print(f"   {broker.name} ready on {broker.bootstrap} (pid {broker.pid})", flush=True)

    def run(name: str, fn: Callable[[], Throughput | Latency]) -> None:
        if not broker.alive():
            results["workloads"][name] = {"error": "broker not running"}
            return
        slug = re.sub(r"[^A-Za-z0-9=.-]+", "_", name)
        profile_out = plan.results_dir / f"{stamp}-{broker.name}-{slug}.collapsed"
        spy = PySpy(broker.pid or 0, profile_out) if plan.profile else contextlib.nullcontext()
        print(f"   {name} ...", end=" ", flush=True)
        try:
            runs: list[dict[str, Any]] = []
            with spy:
                for _ in range(plan.repeat):
                    cpu0, t0 = broker.cpu_seconds(), time.perf_counter()
                    run_result = fn().as_dict()
                    # broker CPU over the run (100% = one core): is the broker the bottleneck?
                    cpu = (broker.cpu_seconds() - cpu0) / (time.perf_counter() - t0)
                    runs.append({**run_result, "broker_cpu_pct": round(100 * cpu)})
            # the median run: by records/s for throughput, by p99 for latency
            key = "p99_ms" if "p99_ms" in runs[0] else "records_per_s"
            d = sorted(runs, key=lambda r: float(r[key]))[len(runs) // 2]
            if len(runs) > 1:
                d = {**d, "runs": runs}
            results["workloads"][name] = d
            print(_fmt_cell(name, d), flush=True)
        except Exception as exc:
            results["workloads"][name] = {"error": f"{type(exc).__name__}: {exc}"}
            print(f"FAILED: {type(exc).__name__}: {exc}", flush=True)
            if not broker.alive():
                print(f"!! {broker.name} died\n{broker.log_tail()}", flush=True)
        if plan.profile and profile_out.exists():
            top = top_functions(profile_out)
            results["profiles"][name] = {"file": str(profile_out), "top_self": top}

    try:
        topics: dict[int, str] = {}
        if plan.produce or plan.consume:
            for size, acks in produce_workloads():
                topic = f"bench-p{size}-acks{acks}"
                create_topic(broker.bootstrap, topic)
                if acks == "all":
                    topics[size] = topic
                n = plan.records[size]
                if plan.produce:
                    run(
                        f"produce {_size_name(size)} acks={acks}",
                        functools.partial(
                            produce_throughput, broker.bootstrap, topic, size, n, acks
                        ),
                    )
                elif acks == "all":  # preload for a consume-only run, untimed
                    print(f"   preloading {topic} ...", flush=True)
                    produce_throughput(broker.bootstrap, topic, size, n, "1")
        if plan.consume:
            for size, topic in topics.items():
                n = plan.records[size]
                run(
                    f"consume {_size_name(size)}",
                    functools.partial(consume_throughput, broker.bootstrap, topic, size, n),
                )
        if plan.latency:
            counter = itertools.count()

            def latency(wait: int) -> Latency:
                # a fresh topic per run: the consumer reads from offset 0
                topic = f"bench-latency-wait{wait}-{next(counter)}"
                create_topic(broker.bootstrap, topic)
                return end_to_end_latency(broker.bootstrap, topic, plan.latency_seconds, wait)

            for wait in LATENCY_FETCH_WAITS_MS:
                run(f"latency 1KiB @10MB/s wait={wait}", functools.partial(latency, wait))
    except Exception as exc:
        results["error"] = f"{type(exc).__name__}: {exc}"
        print(f"!! {broker.name}: {results['error']}\n{broker.log_tail()}", flush=True)
    finally:
        broker.stop()
    return results


def _fmt_cell(name: str, d: dict[str, Any] | None) -> str:
    if d is None:
        return "-"
    if "error" in d:
        return "FAILED"
    if name.startswith("latency"):
        return f"p50 {d['p50_ms']:.2f} / p99 {d['p99_ms']:.2f} / max {d['max_ms']:.1f} ms"
    cpu = f", cpu {d['broker_cpu_pct']}%" if "broker_cpu_pct" in d else ""
    return f"{d['records_per_s'] / 1e3:,.0f} k rec/s, {d['mb_per_s']:,.1f} MB/s{cpu}"


def _client_version() -> str:
    return str(getattr(confluent_kafka, "__version__", confluent_kafka.version()))


def print_table(results: dict[str, dict[str, Any]]) -> None:
    tansu = results.get("tansu", {}).get("workloads", {})
    josef = results.get("josef", {}).get("workloads", {})
    names = list(dict.fromkeys([*tansu.keys(), *josef.keys()]))
    rows = [("workload", "Tansu (memory)", "Josef (disk)", "Josef/Tansu")]
    for name in names:
        t, j = tansu.get(name), josef.get(name)
        if name.startswith("latency"):
            if j and "error" not in j:
                verdict = "ok" if j["p99_ms"] <= LATENCY_TARGET_P99_MS else "MISSES"
                ratio = f"p99 {j['p99_ms']:.2f} ms vs ≤{LATENCY_TARGET_P99_MS:g}: {verdict}"
            else:
                ratio = "-"
        elif t and j and "error" not in t and "error" not in j:
            ratio = f"{j['records_per_s'] / t['records_per_s']:.2f}"
        else:
            ratio = "-"
        rows.append((name, _fmt_cell(name, t), _fmt_cell(name, j), ratio))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    print()
    for k, row in enumerate(rows):
        print(" | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))
        if k == 0:
            print("-+-".join("-" * w for w in widths))
    for broker, res in results.items():
        if "error" in res:
            print(f"!! {broker}: {res['error']}")
    print(
        "\nNote: Tansu runs with memory:// storage (nothing written to disk); "
        "Josef writes its log segments to disk.\n"
        "One partition, confluent-kafka "
        f"{_client_version()} (librdkafka {confluent_kafka.libversion()[0]}), "
        f"{os.cpu_count()} CPUs; clients and broker share the machine."
    )


def print_profiles(results: dict[str, dict[str, Any]]) -> None:
    for broker, res in results.items():
        for name, prof in res.get("profiles", {}).items():
            if not prof["top_self"]:
                continue
            print(f"\n-- {broker} {name}: top functions by self time ({prof['file']})")
            for fn, self_pct, total_pct in prof["top_self"]:
                print(f"   {self_pct:5.1f}% self {total_pct:5.1f}% total  {fn}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--quick", action="store_true", help="a tenth of the records, 3 s latency")
    ap.add_argument(
        "--only",
        choices=["produce", "consume", "latency"],
        action="append",
        help="run only this workload (repeatable)",
    )
    ap.add_argument("--records", type=int, help="records per produce/consume run (both sizes)")
    ap.add_argument("--latency-seconds", type=float, help="latency run length (default 10)")
    group = ap.add_mutually_exclusive_group()
    group.add_argument("--josef-only", action="store_true")
    group.add_argument("--tansu-only", action="store_true")
    ap.add_argument(
        "--profile",
        action="store_true",
        help="attach py-spy to the Josef broker during each workload",
    )
    ap.add_argument(
        "--repeat", type=int, default=1, help="run each workload K times, report the median"
    )
    ap.add_argument(
        "--josef-src",
        type=Path,
        default=REPO,
        help="source tree to run Josef from (e.g. a `git archive` of one commit)",
    )
    ap.add_argument("--keep-data", action="store_true", help="keep the temp dir (logs, data)")
    args = ap.parse_args(argv)

    only = set(args.only or ["produce", "consume", "latency"])
    divisor = 10 if args.quick else 1
    records = {size: (args.records or n // divisor) for size, n in DEFAULT_RECORDS.items()}
    plan = Plan(
        produce="produce" in only,
        consume="consume" in only,
        latency="latency" in only,
        records=records,
        latency_seconds=args.latency_seconds or (3.0 if args.quick else 10.0),
        profile=args.profile,
        results_dir=RESULTS_DIR,
        repeat=max(1, args.repeat),
    )
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    if plan.profile and PySpy.available() is None:
        print("--profile: py-spy not found (pip install py-spy); running without it")
        plan.profile = False

    atexit.register(kill_all)
    signal.signal(signal.SIGTERM, on_signal)

    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    workdir = Path(tempfile.mkdtemp(prefix="josef-bench-"))
    results: dict[str, dict[str, Any]] = {}
    try:
        if not args.josef_only:
            no_profile = dataclasses.replace(plan, profile=False)  # py-spy is for Python
            results["tansu"] = run_broker(make_tansu(workdir), no_profile, stamp)
        if not args.tansu_only:
            josef = make_josef(workdir, args.josef_src.resolve())
            results["josef"] = run_broker(josef, plan, stamp)
    except KeyboardInterrupt:
        print("\ninterrupted")
    finally:
        kill_all()
        if args.keep_data:
            print(f"\nlogs and data kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)

    print_table(results)
    print_profiles(results)
    out = RESULTS_DIR / f"{stamp}.json"
    out.write_text(
        json.dumps(
            {
                "timestamp": stamp,
                "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
                "records": records,
                "machine": {
                    "cpus": os.cpu_count(),
                    "platform": platform.platform(),
                    "python": platform.python_version(),
                    "confluent_kafka": _client_version(),
                    "librdkafka": confluent_kafka.libversion()[0],
                },
                "storage": {"tansu": "memory://", "josef": "disk (temp dir)"},
                "results": results,
            },
            indent=2,
        )
    )
    print(f"\nresults written to {out.relative_to(REPO)}")
    failed = any(
        "error" in r or any("error" in w for w in r.get("workloads", {}).values())
        for r in results.values()
    )
    return 1 if failed or not results else 0


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark Josef against Apache Kafka 3.9 and Tansu, single node and RF=3, in one run.

Each target is started in turn as subprocesses on free loopback ports, loaded with the same
workloads (never two targets loaded at once), and stopped; then the tables are printed::

    python benchmarks/compare.py [--quick] [--only WORKLOAD ...] [--topology single|rf3]
                                 [--peer tansu|kafka|josef ...] [--repeat K] [--kafka-libs DIR]

Targets, in this order: Tansu (``memory://``), Kafka 3.9.1 in ZooKeeper mode, Josef (both
on disk, one partition), then 3-broker clusters of Kafka and Josef (one ZooKeeper, a chroot
each; Tansu cannot replicate). Workloads (confluent-kafka unless marked "(C)": the C driver
rdkafka_driver.c, librdkafka with no Python in the loop):

* produce: 100-byte and 1 KiB records, acks=1 and acks=all (RF=3: acks=all), linger.ms=5,
  batch.size=1 MiB; timed from the first ``produce()`` to the end of ``flush()``.
* consume: the acks=all topics read back from offset 0 with an assigned consumer.
* latency: a producer paced at 10 MB/s (and 5 MB/s) of 1 KiB records, a consumer process on
  the same partition; send time embedded in each value.
* failover (RF=3): the leader killed (kill -9) or stopped (SIGTERM, controlled shutdown);
  time until a survivor acknowledges an acks=all write.

Results: tables on stdout and ``benchmarks/results/<timestamp>.json``.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import dataclasses
import datetime as _dt
import functools
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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import confluent_kafka
import driver
import jvm
import report
from bench_cluster import (
    CLUSTER_SETTINGS,
    CLUSTER_SIZE,
    FAILOVER_TARGET_KILL_S,
    FAILOVER_TARGET_SIGTERM_S,
    MIN_INSYNC_REPLICAS,
    BenchCluster,
)
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
    LATENCY_RATE_BYTES,
    LATENCY_RF3_RATE_BYTES,
    consume_throughput,
    create_topic,
    end_to_end_latency,
    produce_throughput,
)

RESULTS_DIR = REPO / "benchmarks" / "results"
PEERS = ("tansu", "kafka", "josef")
WORKLOADS = ("produce", "consume", "latency", "driver", "failover")
TOPOLOGIES = ("single", "rf3")
# The same storage settings for Kafka and Josef (Kafka's defaults, spelled out).
COMMON_SETTINGS = {
    "num.partitions": "1",
    "log.segment.bytes": "1073741824",
    "group.initial.rebalance.delay.ms": "0",
}
SINGLE_SETTINGS = {"offsets.topic.replication.factor": "1"}
KAFKA_SINGLE_SETTINGS = {
    "transaction.state.log.replication.factor": "1",
    "transaction.state.log.min.isr": "1",
}


class Target(Protocol):
    """What run_target needs of a broker or a cluster."""

    name: str
    argv: list[str]
    log_path: Path

    @property
    def bootstrap(self) -> str: ...
    @property
    def pid(self) -> int | None: ...
    def start(self) -> None: ...
    def wait_ready(self, timeout: float | None = None) -> None: ...
    def stop(self) -> None: ...
    def alive(self) -> bool: ...
    def cpu_seconds(self) -> float: ...
    def log_tail(self, lines: int = ...) -> str: ...


@dataclass
class Plan:
    workloads: frozenset[str]
    records: dict[int, int]
    latency_seconds: float
    profile: bool
    results_dir: Path
    repeat: int = 1
    peers: tuple[str, ...] = PEERS
    topologies: tuple[str, ...] = TOPOLOGIES
    driver_exe: Path | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def produce(self) -> bool:
        return "produce" in self.workloads

    @property
    def consume(self) -> bool:
        return "consume" in self.workloads

    @property
    def latency(self) -> bool:
        return "latency" in self.workloads

    @property
    def driver(self) -> bool:
        return "driver" in self.workloads and self.driver_exe is not None


def size_name(size: int) -> str:
    return "1KiB" if size == 1024 else f"{size}B"


def median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The median run by its metric (records/s, p99, failover seconds); all runs kept."""
    first = runs[0]
    key = next(k for k in ("p99_ms", "failover_s", "records_per_s") if k in first)
    d = sorted(runs, key=lambda r: float(r[key]))[len(runs) // 2]
    return {**d, "runs": runs} if len(runs) > 1 else d


def load_average() -> float:
    return round(os.getloadavg()[0], 2)


class Runner:
    """Runs the named workloads of one started target and collects their median runs."""

    def __init__(self, target: Target, plan: Plan, stamp: str) -> None:
        self.target = target
        self.plan = plan
        self.stamp = stamp
        self.results: dict[str, Any] = {"workloads": {}, "profiles": {}}

    def run(self, name: str, fn: Callable[[], Any], repeat: int | None = None) -> None:
        target, plan = self.target, self.plan
        if not target.alive():
            self.results["workloads"][name] = {"error": "broker not running"}
            return
        slug = re.sub(r"[^A-Za-z0-9=.-]+", "_", name)
        profile_out = plan.results_dir / f"{self.stamp}-{target.name}-{slug}.collapsed"
        profiling = plan.profile and target.pid is not None
        spy = PySpy(target.pid or 0, profile_out) if profiling else contextlib.nullcontext()
        print(f"   {name} ...", end=" ", flush=True)
        try:
            runs: list[dict[str, Any]] = []
            with spy:
                for _ in range(repeat or plan.repeat):
                    load0 = load_average()
                    cpu0, t0 = target.cpu_seconds(), time.perf_counter()
                    out = fn()
                    d = out if isinstance(out, dict) else out.as_dict()
                    cpu = (target.cpu_seconds() - cpu0) / (time.perf_counter() - t0)
                    # broker CPU over the run (100% = one core; a cluster sums its brokers)
                    run = {**d, "load_avg": [load0, load_average()]}
                    if cpu >= 0:  # a restarted broker (failover) resets its CPU counter
                        run["broker_cpu_pct"] = round(100 * cpu)
                    runs.append(run)
            d = median_run(runs)
            self.results["workloads"][name] = d
            print(report.fmt_cell(name, d), f"[load {d['load_avg'][1]}]", flush=True)
        except Exception as exc:
            self.results["workloads"][name] = {"error": f"{type(exc).__name__}: {exc}"}
            print(f"FAILED: {type(exc).__name__}: {exc}", flush=True)
            if not target.alive():
                print(f"!! {target.name} died\n{target.log_tail()}", flush=True)
        if profiling and profile_out.exists():
            top = top_functions(profile_out)
            self.results["profiles"][name] = {"file": str(profile_out), "top_self": top}


def produce_workloads(rf: int) -> Iterator[tuple[int, str]]:
    for size in (100, 1024):
        for acks in ("1", "all") if rf == 1 else ("all",):
            yield size, acks


def run_workloads(runner: Runner, rf: int) -> None:
    """Every planned workload against the started target (rf: its topics' RF)."""
    plan, target = runner.plan, runner.target
    topic_config = {"min.insync.replicas": str(MIN_INSYNC_REPLICAS)} if rf > 1 else {}

    def new_topic(topic: str) -> str:
        create_topic(target.bootstrap, topic, 60.0, rf, topic_config)
        return topic

    acks_all_topics: dict[int, str] = {}
    if plan.produce or plan.consume or plan.driver:
        for size, acks in produce_workloads(rf):
            n = plan.records[size]
            topic = new_topic(f"bench-p{size}-acks{acks}")
            if acks == "all":
                acks_all_topics[size] = topic
            if plan.produce:
                runner.run(
                    f"produce {size_name(size)} acks={acks}",
                    functools.partial(produce_throughput, target.bootstrap, topic, size, n, acks),
                )
            elif acks == "all":  # preload for the consumers, untimed
                print(f"   preloading {topic} ...", flush=True)
                produce_throughput(target.bootstrap, topic, size, n, "1")
    if plan.driver:
        exe = plan.driver_exe
        assert exe is not None
        counter = iter(range(1_000_000))
        for size in (100, 1024):
            n = plan.records[size]

            def c_produce(size: int = size, n: int = n) -> Any:
                # a fresh topic per run: --repeat must not append to the last run's records
                topic = new_topic(f"bench-c-p{size}-{next(counter)}")
                return driver.c_produce(exe, target.bootstrap, topic, size, n, "all")

            runner.run(f"produce {size_name(size)} acks=all (C)", c_produce)
    if plan.consume:
        for size, topic in acks_all_topics.items():
            n = plan.records[size]
            runner.run(
                f"consume {size_name(size)}",
                functools.partial(consume_throughput, target.bootstrap, topic, size, n),
            )
            if plan.driver:
                assert plan.driver_exe is not None
                runner.run(
                    f"consume {size_name(size)} (C)",
                    functools.partial(
                        driver.c_consume, plan.driver_exe, target.bootstrap, topic, size, n
                    ),
                )
    if plan.latency:
        counter2 = iter(range(1_000_000))
        rates = [(LATENCY_RF3_RATE_BYTES, 500)]
        if rf == 1:
            rates = [(LATENCY_RATE_BYTES, w) for w in LATENCY_FETCH_WAITS_MS] + rates
        for rate, wait in rates:

            def latency(rate: int = rate, wait: int = wait) -> Any:
                topic = new_topic(f"bench-latency-{rate >> 20}mb-wait{wait}-{next(counter2)}")
                return end_to_end_latency(
                    target.bootstrap, topic, plan.latency_seconds, wait, rate
                )

            runner.run(f"latency 1KiB @{rate >> 20}MB/s wait={wait}", latency)


def run_failover(runner: Runner, cluster: BenchCluster) -> None:
    topic = "bench-failover"
    create_topic(
        cluster.bootstrap, topic, 60.0, CLUSTER_SIZE,
        {"min.insync.replicas": str(MIN_INSYNC_REPLICAS)},
    )
    for sig, limit in (
        (signal.SIGKILL, FAILOVER_TARGET_KILL_S),
        (signal.SIGTERM, FAILOVER_TARGET_SIGTERM_S),
    ):
        name = "failover kill -9" if sig == signal.SIGKILL else "failover SIGTERM"

        def once(sig: signal.Signals = sig, limit: float = limit) -> dict[str, Any]:
            return {**cluster.failover(topic, sig), "target_s": limit}

        runner.run(name, once)


def run_target(target: Target, plan: Plan, stamp: str, rf: int) -> dict[str, Any]:
    """Start one target, run every planned workload, stop it. Never raises for a workload."""
    print(f"\n== {target.name}: starting ({' '.join(target.argv[:3])} ...)", flush=True)
    runner = Runner(target, plan, stamp)
    t_start = time.perf_counter()
    try:
        target.start()
        target.wait_ready()
    except (BrokerFailed, TimeoutError, RuntimeError) as exc:
        print(f"!! {exc}\n-- last lines of {target.log_path}:\n{target.log_tail()}", flush=True)
        target.stop()
        return {"error": str(exc), "log_tail": target.log_tail()}
    runner.results["startup_s"] = round(time.perf_counter() - t_start, 1)
    print(f"   {target.name} ready on {target.bootstrap} "
          f"({runner.results['startup_s']} s)", flush=True)
    try:
        run_workloads(runner, rf)
        if rf > 1 and "failover" in plan.workloads and isinstance(target, BenchCluster):
            run_failover(runner, target)
    except Exception as exc:
        runner.results["error"] = f"{type(exc).__name__}: {exc}"
        print(f"!! {target.name}: {runner.results['error']}\n{target.log_tail()}", flush=True)
    finally:
        target.stop()
    return runner.results


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--quick", action="store_true",
                    help="a tenth of the records, 3 s latency runs, single node only "
                         "unless --topology says otherwise")
    ap.add_argument("--only", choices=WORKLOADS, action="append",
                    help="run only this workload (repeatable)")
    ap.add_argument("--topology", choices=TOPOLOGIES, action="append",
                    help="single node and/or RF=3 clusters (repeatable; default both)")
    ap.add_argument("--peer", choices=PEERS, action="append",
                    help="run only this peer (repeatable; default all)")
    group = ap.add_mutually_exclusive_group()
    group.add_argument("--josef-only", action="store_true", help="same as --peer josef")
    group.add_argument("--tansu-only", action="store_true", help="same as --peer tansu")
    ap.add_argument("--records", type=int, help="records per produce/consume run (both sizes)")
    ap.add_argument("--latency-seconds", type=float, help="latency run length (default 10)")
    ap.add_argument("--profile", action="store_true",
                    help="attach py-spy to the single Josef broker during each workload")
    ap.add_argument("--repeat", type=int, default=1,
                    help="run each workload K times, report the median")
    ap.add_argument("--josef-src", type=Path, default=REPO,
                    help="source tree to run Josef from (e.g. a `git archive` of one commit)")
    ap.add_argument("--kafka-libs", type=Path,
                    help="directory of Kafka 3.9.1's jars (default: $KAFKA_LIBS, then "
                         "benchmarks/.kafka-3.9.1/libs)")
    ap.add_argument("--fetch-kafka-jars", type=Path, metavar="DIR",
                    help="download Kafka's jars with mvn into DIR first, then use them")
    ap.add_argument("--keep-data", action="store_true", help="keep the temp dir (logs, data)")
    args = ap.parse_args(argv)
    if args.josef_only:
        args.peer = ["josef"]
    elif args.tansu_only:
        args.peer = ["tansu"]
    if args.repeat < 1:
        ap.error("--repeat must be at least 1")
    return args


def make_plan(args: argparse.Namespace) -> Plan:
    divisor = 10 if args.quick else 1
    # --quick stays near 2 minutes: the clusters (6 broker starts, failovers that wait out a
    # ZooKeeper session) only when asked for with --topology rf3
    default_topologies = ("single",) if args.quick else TOPOLOGIES
    return Plan(
        workloads=frozenset(args.only or WORKLOADS),
        records={size: (args.records or n // divisor) for size, n in DEFAULT_RECORDS.items()},
        latency_seconds=args.latency_seconds or (3.0 if args.quick else 10.0),
        profile=args.profile,
        results_dir=RESULTS_DIR,
        repeat=args.repeat,
        peers=tuple(p for p in PEERS if p in (args.peer or PEERS)),
        topologies=tuple(t for t in TOPOLOGIES if t in (args.topology or default_topologies)),
    )


def make_cluster(peer: str, workdir: Path, zk: jvm.ZooKeeperServer, args: argparse.Namespace,
                 libs: Path | None) -> BenchCluster:
    settings = {**COMMON_SETTINGS, **CLUSTER_SETTINGS}
    zk_connect = zk.connect(f"/{peer}-rf3")
    brokers: dict[int, BrokerProcess] = {}
    cdir = workdir / f"{peer}-rf3"
    cdir.mkdir(parents=True, exist_ok=True)
    for i in range(1, CLUSTER_SIZE + 1):
        if peer == "kafka":
            assert libs is not None
            brokers[i] = jvm.make_kafka(cdir, libs, zk_connect, settings, i, f"kafka{i}")
        else:
            brokers[i] = make_josef(
                cdir, args.josef_src.resolve(),
                {**settings, "zookeeper.connect": zk_connect, "broker.id": str(i)},
                name=f"josef{i}",
            )
    return BenchCluster(f"{peer}-rf3", brokers, zk_connect)


def run_all(args: argparse.Namespace, plan: Plan, workdir: Path, stamp: str) -> dict[str, Any]:
    results: dict[str, Any] = {}
    libs = None
    if "kafka" in plan.peers:
        if args.fetch_kafka_jars:
            libs = jvm.fetch_kafka_libs(args.fetch_kafka_jars.resolve())
        libs = jvm.find_kafka_libs(args.kafka_libs or libs)
        if libs is None:
            plan.notes.append(
                "Kafka skipped: no kafka_2.13 jars (--kafka-libs DIR, KAFKA_LIBS, or "
                "--fetch-kafka-jars DIR to download them with mvn)"
            )
            print("!! " + plan.notes[-1])
    zk: jvm.ZooKeeperServer | None = None
    need_zk = (libs is not None and "single" in plan.topologies) or "rf3" in plan.topologies
    try:
        if need_zk:
            try:
                zk = jvm.ZooKeeperServer(workdir, libs)
                zk.start()
            except RuntimeError as exc:
                plan.notes.append(f"no ZooKeeper, so no Kafka and no clusters: {exc}")
                print("!! " + plan.notes[-1])
                zk = None
        if "single" in plan.topologies:
            for peer in plan.peers:
                if peer == "tansu":
                    target: Target = make_tansu(workdir)
                    plan_t = dataclasses.replace(plan, profile=False)  # py-spy is for Python
                elif peer == "kafka":
                    if libs is None or zk is None:
                        continue
                    settings = {**COMMON_SETTINGS, **SINGLE_SETTINGS, **KAFKA_SINGLE_SETTINGS}
                    target = jvm.make_kafka(workdir, libs, zk.connect("/kafka-single"), settings)
                    plan_t = dataclasses.replace(plan, profile=False)
                else:
                    target = make_josef(
                        workdir, args.josef_src.resolve(), {**COMMON_SETTINGS, **SINGLE_SETTINGS}
                    )
                    plan_t = plan
                results[peer] = run_target(target, plan_t, stamp, rf=1)
                _drop_data(workdir, peer, args.keep_data)
        if "rf3" in plan.topologies and zk is not None:
            if "tansu" in plan.peers:
                plan.notes.append("Tansu has no replication: no RF=3 figures for it.")
            for peer in ("kafka", "josef"):
                if peer not in plan.peers or (peer == "kafka" and libs is None):
                    continue
                cluster = make_cluster(peer, workdir, zk, args, libs)
                results[f"{peer}-rf3"] = run_target(cluster, plan, stamp, rf=CLUSTER_SIZE)
                _drop_data(workdir, f"{peer}-rf3", args.keep_data)
    finally:
        if zk is not None:
            zk.stop()
    return results


def _drop_data(workdir: Path, name: str, keep: bool) -> None:
    """Free the disk (and the next target's page cache) of a stopped target's data:
    ``<name>-data`` (single Josef), ``<name>/data`` (single Kafka), ``<name>/<broker>/data``
    and ``<name>/<broker>-data`` (clusters)."""
    if keep:
        return
    base = workdir / name
    for d in (workdir / f"{name}-data", base / "data", *base.glob("*/data"), *base.glob("*-data")):
        shutil.rmtree(d, ignore_errors=True)


def _client_version() -> str:
    return str(getattr(confluent_kafka, "__version__", confluent_kafka.version()))


def print_tables(results: dict[str, Any], plan: Plan, load: tuple[float, ...]) -> None:
    if any(t in results for t in ("tansu", "kafka", "josef")):
        print("\n" + report.single_node_table(results))
    if any(t in results for t in ("kafka-rf3", "josef-rf3")):
        print("\n" + report.rf3_table(results))
    for name, res in results.items():
        if "error" in res:
            print(f"!! {name}: {res['error']}")
    for note in plan.notes:
        print(f"Note: {note}")
    print(
        f"\n{report.LEGEND}\n"
        "Tansu runs with memory:// storage; Kafka and Josef write log segments to disk "
        "(page cache, no fsync per message).\n"
        f"One partition, confluent-kafka {_client_version()} "
        f"(librdkafka {confluent_kafka.libversion()[0]}), {os.cpu_count()} CPUs; clients and "
        f"brokers share the machine. Load average (1/5/15 min) at the end: "
        f"{' / '.join(f'{x:.2f}' for x in load)}."
    )


def print_profiles(results: dict[str, Any]) -> None:
    for broker, res in results.items():
        for name, prof in res.get("profiles", {}).items():
            if not prof["top_self"]:
                continue
            print(f"\n-- {broker} {name}: top functions by self time ({prof['file']})")
            for fn, self_pct, total_pct in prof["top_self"]:
                print(f"   {self_pct:5.1f}% self {total_pct:5.1f}% total  {fn}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    plan = make_plan(args)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    if plan.profile and PySpy.available() is None:
        print("--profile: py-spy not found (pip install py-spy); running without it")
        plan.profile = False
    driver_lib = None
    if "driver" in plan.workloads:
        try:
            plan.driver_exe = driver.build()
            driver_lib = driver.librdkafka_version(plan.driver_exe)
            print(f"C driver: {plan.driver_exe} (librdkafka {driver_lib})")
        except driver.DriverUnavailable as exc:
            plan.notes.append(f"C driver not run: {exc}")
            print(f"!! {plan.notes[-1]}")

    atexit.register(kill_all)
    signal.signal(signal.SIGTERM, on_signal)

    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    workdir = Path(tempfile.mkdtemp(prefix="josef-bench-"))
    load_start = os.getloadavg()
    t0 = time.perf_counter()
    results: dict[str, Any] = {}
    try:
        results = run_all(args, plan, workdir, stamp)
    except KeyboardInterrupt:
        print("\ninterrupted")
    finally:
        kill_all()
        if args.keep_data:
            print(f"\nlogs and data kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    load_end = os.getloadavg()

    print_tables(results, plan, load_end)
    print_profiles(results)
    out = RESULTS_DIR / f"{stamp}.json"
    out.write_text(
        json.dumps(
            {
                "timestamp": stamp,
                "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
                "records": plan.records,
                "seconds": round(time.perf_counter() - t0, 1),
                "load_average": {"start": load_start, "end": load_end},
                "machine": {
                    "cpus": os.cpu_count(),
                    "platform": platform.platform(),
                    "python": platform.python_version(),
                    "confluent_kafka": _client_version(),
                    "librdkafka": confluent_kafka.libversion()[0],
                    "c_driver_librdkafka": driver_lib,
                },
                "storage": {"tansu": "memory://", "kafka": "disk", "josef": "disk"},
                "notes": plan.notes,
                "results": results,
            },
            indent=2,
        )
    )
    print(f"\nresults written to {out.relative_to(REPO)} "
          f"({time.perf_counter() - t0:.0f} s in all)")
    failed = any(
        "error" in r or any("error" in w for w in r.get("workloads", {}).values())
        for r in results.values()
    )
    return 1 if failed or not results else 0


if __name__ == "__main__":
    sys.exit(main())

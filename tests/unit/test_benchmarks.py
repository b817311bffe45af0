"""The pure parts of benchmarks/: argument parsing, plans, percentiles, tables, the failover
probe's Produce framing, the C driver's output parsing. Nothing here starts a broker or
times anything."""

from __future__ import annotations

import struct
import sys
from pathlib import Path
from typing import Any

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCH))

import compare  # noqa: E402
import driver  # noqa: E402
import failover_probe as failover  # noqa: E402
import jvm  # noqa: E402
import report  # noqa: E402
from workloads import DEFAULT_RECORDS, Latency, percentile  # noqa: E402

from protocol.record_batch import read_header  # noqa: E402


# -- arguments and plans ---------------------------------------------------------------
def test_defaults_run_every_workload_peer_and_topology() -> None:
    plan = compare.make_plan(compare.parse_args([]))
    assert plan.workloads == frozenset(compare.WORKLOADS)
    assert plan.peers == ("tansu", "kafka", "josef")
    assert plan.topologies == ("single", "rf3")
    assert plan.records == DEFAULT_RECORDS
    assert plan.latency_seconds == 10.0
    assert plan.repeat == 1


def test_quick_is_single_node_with_a_tenth_of_the_records() -> None:
    plan = compare.make_plan(compare.parse_args(["--quick"]))
    assert plan.records == {size: n // 10 for size, n in DEFAULT_RECORDS.items()}
    assert plan.latency_seconds == 3.0
    assert plan.topologies == ("single",)


def test_quick_keeps_an_explicit_topology() -> None:
    plan = compare.make_plan(compare.parse_args(["--quick", "--topology", "rf3"]))
    assert plan.topologies == ("rf3",)


def test_only_peer_topology_and_records() -> None:
    args = compare.parse_args(
        ["--only", "produce", "--only", "driver", "--peer", "josef", "--peer", "kafka",
         "--topology", "rf3", "--records", "1000", "--latency-seconds", "2", "--repeat", "3"]
    )
    plan = compare.make_plan(args)
    assert plan.workloads == {"produce", "driver"}
    assert plan.peers == ("kafka", "josef")  # always in the run's order
    assert plan.topologies == ("rf3",)
    assert plan.records == {100: 1000, 1024: 1000}
    assert plan.latency_seconds == 2.0
    assert plan.repeat == 3
    assert plan.produce and not plan.consume and not plan.latency
    assert not plan.driver  # not built yet: no executable


@pytest.mark.parametrize(("flag", "peer"), [("--josef-only", "josef"), ("--tansu-only", "tansu")])
def test_one_peer_aliases(flag: str, peer: str) -> None:
    assert compare.make_plan(compare.parse_args([flag])).peers == (peer,)


@pytest.mark.parametrize("argv", [["--repeat", "0"], ["--only", "nothing"], ["--peer", "redpanda"],
                                  ["--josef-only", "--tansu-only"]])
def test_bad_arguments_are_refused(argv: list[str]) -> None:
    with pytest.raises(SystemExit):
        compare.parse_args(argv)


def test_median_run_by_the_rows_metric() -> None:
    runs = [{"records_per_s": v} for v in (3.0, 1.0, 2.0)]
    assert compare.median_run(runs)["records_per_s"] == 2.0
    assert compare.median_run(runs)["runs"] == runs
    lat = [{"p99_ms": 9.0, "p50_ms": 1}, {"p99_ms": 1.0, "p50_ms": 2}, {"p99_ms": 5.0, "p50_ms": 3}]
    assert compare.median_run(lat)["p50_ms"] == 3
    one = [{"failover_s": 7.0}]
    assert compare.median_run(one) == {"failover_s": 7.0}


# -- percentiles -----------------------------------------------------------------------
def test_percentile_nearest_rank_above() -> None:
    s = [float(i) for i in range(1, 101)]  # 1..100
    assert percentile(s, 0.50) == 51.0
    assert percentile(s, 0.99) == 100.0
    assert percentile(s, 0.0) == 1.0
    assert percentile(s, 1.0) == 100.0
    assert percentile([4.0], 0.99) == 4.0
    with pytest.raises(ValueError):
        percentile([], 0.5)


def test_latency_summary() -> None:
    d = Latency(sent=1000, received=1000, samples=[float(i) for i in range(1000, 0, -1)]).as_dict()
    assert d["samples"] == 1000
    assert (d["p50_ms"], d["p99_ms"], d["p999_ms"], d["max_ms"]) == (501.0, 991.0, 1000.0, 1000.0)
    assert d["mean_ms"] == 500.5


# -- tables ----------------------------------------------------------------------------
def _tp(rps: float, cpu: int = 50) -> dict[str, Any]:
    return {"records_per_s": rps, "mb_per_s": rps * 100 / 1e6, "broker_cpu_pct": cpu}


def _lat(p99: float) -> dict[str, Any]:
    return {"p50_ms": p99 / 2, "p99_ms": p99, "max_ms": p99 * 2}


def _fo(seconds: float, target: float) -> dict[str, Any]:
    return {"failover_s": seconds, "old_leader": 1, "new_leader": 2, "target_s": target}


def _rows(table: str) -> dict[str, list[str]]:
    lines = table.splitlines()
    return {
        cells[0]: cells[1:]
        for cells in ([c.strip() for c in line.split("|")] for line in lines[2:])
    }


def test_single_node_table_ratios_and_verdicts() -> None:
    results = {
        "tansu": {"workloads": {"produce 100B acks=1": _tp(1_000_000),
                                "latency 1KiB @10MB/s wait=500": _lat(400.0)}},
        "kafka": {"workloads": {"produce 100B acks=1": _tp(500_000),
                                "latency 1KiB @10MB/s wait=500": _lat(4.0)}},
        "josef": {"workloads": {"produce 100B acks=1": _tp(750_000, cpu=13),
                                "latency 1KiB @10MB/s wait=500": _lat(2.0),
                                "consume 100B": {"error": "boom"}}},
    }
    table = report.single_node_table(results)
    rows = _rows(table)
    assert rows["produce 100B acks=1"] == [
        "1,000 k rec/s, 100.0 MB/s, cpu 50%", "500 k rec/s, 50.0 MB/s, cpu 50%",
        "750 k rec/s, 75.0 MB/s, cpu 13%", "1.50", "0.75", "",
    ]
    lat = rows["latency 1KiB @10MB/s wait=500"]
    assert lat[3:] == ["0.50", "0.01", "p99 ≤ 10 ms: ok"]
    assert rows["consume 100B"] == ["-", "-", "FAILED", "-", "-", ""]
    # columns line up: every row is as wide as the header
    widths = {len(line) for line in table.splitlines()[:2]}
    assert len(widths) == 1


def test_rf3_table_against_single_node_and_targets() -> None:
    results = {
        "kafka": {"workloads": {"produce 1KiB acks=all": _tp(400_000)}},
        "josef": {"workloads": {"produce 1KiB acks=all": _tp(300_000),
                                "latency 1KiB @5MB/s wait=500": _lat(2.0)}},
        "kafka-rf3": {"workloads": {"produce 1KiB acks=all": _tp(200_000),
                                    "failover kill -9": _fo(8.0, 12.0),
                                    "failover SIGTERM": _fo(0.5, 1.0)}},
        "josef-rf3": {"workloads": {"produce 1KiB acks=all": _tp(120_000),
                                    "latency 1KiB @5MB/s wait=500": _lat(12.0),
                                    "failover kill -9": _fo(6.0, 12.0),
                                    "failover SIGTERM": _fo(2.0, 1.0)}},
    }
    rows = _rows(report.rf3_table(results))
    produce = rows["produce 1KiB acks=all"]
    assert produce[2:] == ["0.60", "0.50", "0.40", "≥ 0.5x single: MISSES"]
    assert rows["latency 1KiB @5MB/s wait=500"][2:] == ["-", "-", "6.00", "p99 ≤ 10 ms: MISSES"]
    assert rows["failover kill -9"][:3] == ["8.00 s (1→2)", "6.00 s (1→2)", "0.75"]
    assert rows["failover kill -9"][-1] == "≤ 12 s: ok"
    assert rows["failover SIGTERM"][-1] == "≤ 1 s: MISSES"


def test_rf3_produce_target_met() -> None:
    single = {"produce 100B acks=all": _tp(100_000)}
    rf3 = {"produce 100B acks=all": _tp(60_000)}
    rows = _rows(report.rf3_table({"josef": {"workloads": single},
                                   "josef-rf3": {"workloads": rf3}}))
    assert rows["produce 100B acks=all"][-2:] == ["0.60", "≥ 0.5x single: ok"]


def test_render_pads_columns() -> None:
    text = report.render([("a", "bb"), ("ccc", "d")])
    assert text.splitlines() == ["a   | bb", "----+---", "ccc | d "]


# -- failover probe framing ------------------------------------------------------------
def test_produce_request_frame() -> None:
    frame = failover.produce_request(7, "t", 0, b"v")
    (size,) = struct.unpack_from(">i", frame, 0)
    assert size == len(frame) - 4
    api_key, version, corr = struct.unpack_from(">hhi", frame, 4)
    assert (api_key, version, corr) == (0, 3, 7)
    pos = 12
    (client_len,) = struct.unpack_from(">h", frame, pos)
    pos += 2 + client_len
    txn, acks, timeout = struct.unpack_from(">hhi", frame, pos)
    assert (txn, acks, timeout) == (-1, -1, failover.REQUEST_TIMEOUT_MS)
    pos += 8
    assert struct.unpack_from(">ih", frame, pos) == (1, 1)
    assert frame[pos + 6 : pos + 7] == b"t"
    pos += 7
    assert struct.unpack_from(">iii", frame, pos)[:2] == (1, 0)
    (records_len,) = struct.unpack_from(">i", frame, pos + 8)
    batch = frame[pos + 12 :]
    assert len(batch) == records_len
    header = read_header(batch)
    assert header.magic == 2 and header.records_count == 1


def test_produce_response_error_code() -> None:
    body = (struct.pack(">ii", 9, 1) + struct.pack(">h", 5) + b"topic" + struct.pack(">i", 1)
            + struct.pack(">ihqq", 0, 6, -1, -1) + struct.pack(">i", 0))
    assert failover.produce_error_code(body) == (9, 6)
    two = struct.pack(">ii", 9, 2)
    with pytest.raises(ValueError):
        failover.produce_error_code(two)


def test_failover_result_dict() -> None:
    r = failover.FailoverResult("kill -9", old_leader=1, new_leader=3, seconds=6.54321,
                                write_s=0.0123, attempts=5)
    r.errors[6] += 4
    d = r.as_dict()
    assert d["failover_s"] == 6.543 and d["write_s"] == 0.012
    assert d["error_codes"] == {"6": 4} and d["old_leader_exit_s"] is None


# -- C driver and Kafka jars -----------------------------------------------------------
def test_driver_result_parsing() -> None:
    out = "warming up\n{\"records\": 10, \"bytes\": 1000, \"seconds\": 0.5}\n"
    tp = driver.parse_result(out)
    assert (tp.records, tp.bytes, tp.seconds) == (10, 1000, 0.5)
    assert tp.as_dict()["records_per_s"] == 20.0
    with pytest.raises(RuntimeError):
        driver.parse_result("% ERROR: nothing")


def test_kafka_libs_lookup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert jvm.find_kafka_libs(tmp_path) is None
    (tmp_path / "kafka_2.13-3.9.1.jar").write_bytes(b"")
    assert jvm.find_kafka_libs(tmp_path) == tmp_path
    monkeypatch.setenv("KAFKA_LIBS", str(tmp_path))
    assert jvm.find_kafka_libs() == tmp_path


def test_kafka_fetch_command_and_properties(tmp_path: Path) -> None:
    cmd = jvm.fetch_command(tmp_path / "libs", tmp_path)
    assert cmd[:2] == ["mvn", "-q"] and "dependency:copy-dependencies" in cmd
    assert f"-DoutputDirectory={tmp_path / 'libs'}" in cmd
    assert "<artifactId>kafka_2.13</artifactId>" in jvm.POM and jvm.KAFKA_VERSION in jvm.POM
    props = jvm.kafka_properties(2, 9093, tmp_path, "127.0.0.1:2181/k", {"num.partitions": "1"})
    assert props["broker.id"] == "2"
    assert props["listeners"] == props["advertised.listeners"] == "PLAINTEXT://127.0.0.1:9093"
    assert props["zookeeper.connect"] == "127.0.0.1:2181/k"
    assert props["num.partitions"] == "1"


def test_drop_data_removes_every_targets_data(tmp_path: Path) -> None:
    dirs = [tmp_path / "josef-data", tmp_path / "kafka" / "data",
            tmp_path / "kafka-rf3" / "kafka1" / "data", tmp_path / "josef-rf3" / "josef2-data"]
    for d in dirs:
        (d / "t-0").mkdir(parents=True)
    (tmp_path / "kafka" / "kafka.log").write_text("kept")
    for name in ("josef", "kafka", "kafka-rf3", "josef-rf3"):
        compare._drop_data(tmp_path, name, keep=False)
    assert not any(d.exists() for d in dirs)
    assert (tmp_path / "kafka" / "kafka.log").read_text() == "kept"
    (tmp_path / "josef-data").mkdir()
    compare._drop_data(tmp_path, "josef", keep=True)
    assert (tmp_path / "josef-data").exists()


# -- metrics on vs off ------------------------------------------------------------------
def test_metrics_on_off_summary_ratios() -> None:
    import metrics_on_off

    on, off = metrics_on_off.Samples(), metrics_on_off.Samples()
    on.add(1000, 2.0, 0.004)  # 500 rec/s, 4 µs CPU per record
    on.add(1000, 1.0, 0.006)  # 1000 rec/s, 6 µs
    off.add(1000, 0.8, 0.005)  # 1250 rec/s, 5 µs
    off.add(1000, 1.0, 0.003)
    row = metrics_on_off.summary({"produce": {"on": on, "off": off}})["produce"]
    assert row["on_records_per_s"] == 1000 and row["off_records_per_s"] == 1250
    assert row["rate_ratio"] == pytest.approx(0.8)
    assert row["on_cpu_us_per_record"] == pytest.approx(5.0)
    assert row["off_cpu_us_per_record"] == pytest.approx(4.0)
    assert row["cpu_ratio"] == pytest.approx(1.25)
    args = metrics_on_off.parse_args([])
    assert (args.records, args.size, args.repeat, args.acks) == (300_000, 100, 3, "1")

"""The Go clients franz-go (kgo, kadm, kmsg) and sarama against a Josef process.

tests/clients/go/ holds one module (go.mod and go.sum committed) with one program per client;
pytest builds them with ``go build`` (GOFLAGS=-mod=mod, module and build caches under the test
cache, tests/helpers/client_cache.py) and checks each JSON report and the stored batches
exactly, as for the Java client. The pinned module versions need Go >= 1.26 (their go.mod
files say so); where the Go on PATH is older (Debian 12's golang-go is 1.19) or missing, the
tests fetch Go's own toolchain module from the module proxy into the test cache.
"""

from __future__ import annotations

from collections.abc import Generator
from pathlib import Path

import pytest
from helpers.broker_process import BrokerProcess
from helpers.client_cache import CACHE, go_toolchain, run_fetch
from helpers.client_programs import CLIENTS_DIR, check_client, run_program, scenario_broker

GO_DIR = CLIENTS_DIR / "go"


def go_env() -> dict[str, str]:
    return {
        "GOFLAGS": "-mod=mod",
        "GOMODCACHE": str(CACHE / "go" / "mod"),
        "GOCACHE": str(CACHE / "go" / "build"),
        "GOTOOLCHAIN": "local",
    }


PROGRAMS = ("franz", "sarama")


@pytest.fixture(scope="module")
def binaries() -> Path:
    """Both programs, built in one ``go build`` (they share the module graph)."""
    go = go_toolchain()
    out = GO_DIR / "bin"
    out.mkdir(exist_ok=True)
    run_fetch([go, "build", "-o", f"{out}/", *(f"./{p}" for p in PROGRAMS)], GO_DIR, go_env())
    return out


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Generator[BrokerProcess, None, None]:
    yield from scenario_broker(tmp_path_factory, "go-clients")


# A cold build of both programs (module downloads, compiling kadm/kmsg and sarama) takes
# several minutes on 2 cores; later runs hit the build cache.
@pytest.mark.timeout(1500)
@pytest.mark.parametrize(
    ("program", "group_protocol", "client"),
    [
        ("franz", "classic", "franz-go 1.22.3"),
        ("franz", "consumer", "franz-go 1.22.3 (KIP-848)"),
        ("sarama", "classic", "sarama 1.61.1"),
    ],
)
def test_go_client_scenario(
    broker: BrokerProcess, binaries: Path, program: str, group_protocol: str, client: str
) -> None:
    binary = binaries / program
    topic = f"go-{program}-{group_protocol}"
    out = run_program(
        [str(binary), broker.bootstrap, topic, f"{topic}-group", group_protocol], GO_DIR
    )
    check_client(client, out, broker, topic)


@pytest.mark.timeout(1500)
def test_franz_go_transactions(broker: BrokerProcess, binaries: Path) -> None:
    """franz-go's transactional client: read_committed sees the committed records only,
    read_uncommitted the aborted ones too, markers count in the end offset, and a second
    client with the same transactional id fences the first."""
    import json

    out = run_program(
        [str(binaries / "franz"), broker.bootstrap, "go-franz-txn", "go-franz-txn-id", "txn"],
        GO_DIR,
    )
    report = json.loads(out.strip().splitlines()[-1])
    assert report["fenced"] == "PRODUCER_FENCED"  # franz-go sends KIP-588 versions
    assert report["committed"] == ["c0", "c1", "c2", "c5", "c6"]
    assert report["uncommitted"] == ["c0", "c1", "c2", "a3", "a4", "c5", "c6"]
    assert report["end_offset"] == 11  # 7 records and 4 markers (commit, abort, commit, commit)


@pytest.mark.timeout(1500)
def test_sarama_transactions(broker: BrokerProcess, binaries: Path) -> None:
    """sarama's transactional producer and read_committed consumer, as for franz-go."""
    import json

    out = run_program(
        [str(binaries / "sarama"), broker.bootstrap, "go-sarama-txn", "go-sarama-txn-id", "txn"],
        GO_DIR,
    )
    report = json.loads(out.strip().splitlines()[-1])
    assert report["committed"] == ["c0", "c1", "c2", "c5", "c6"]
    assert report["uncommitted"] == ["c0", "c1", "c2", "a3", "a4", "c5", "c6"]
    assert report["end_offset"] == 11  # 7 records and 4 markers (commit, abort, commit, commit)
    assert report["fenced"] == "PRODUCER_FENCED"

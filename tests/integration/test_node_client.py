"""kafkajs 2.2.4 (npm) against a Josef process.

tests/clients/node/scenario.js runs the scenario of tests/clients/README.md; its packages are
installed at test time with ``npm ci`` from the committed package-lock.json (npm's cache under
the test cache, tests/helpers/client_cache.py; node_modules is not committed), and pytest
checks its JSON report and the stored batches exactly, as for the Java and Go clients.
"""

from __future__ import annotations

import json
from collections.abc import Generator
from pathlib import Path

import pytest
from helpers.broker_process import BrokerProcess
from helpers.client_cache import CACHE, require_tool, run_fetch
from helpers.client_programs import CLIENTS_DIR, check_client, run_program, scenario_broker

NODE_DIR = CLIENTS_DIR / "node"


def install() -> Path:
    """``npm ci`` unless node_modules already holds the locked kafkajs."""
    npm = require_tool("npm", "apt-get install npm")
    locked = json.loads((NODE_DIR / "package-lock.json").read_text())
    want = locked["packages"]["node_modules/kafkajs"]["version"]
    installed = NODE_DIR / "node_modules" / "kafkajs" / "package.json"
    if not installed.exists() or json.loads(installed.read_text())["version"] != want:
        run_fetch([npm, "ci", "--no-audit", "--no-fund"], NODE_DIR,
                  {"npm_config_cache": str(CACHE / "npm")})  # fmt: skip
    return NODE_DIR


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Generator[BrokerProcess, None, None]:
    yield from scenario_broker(tmp_path_factory, "node-clients")


@pytest.mark.timeout(900)  # the first run installs kafkajs with npm ci
def test_kafkajs_scenario(broker: BrokerProcess) -> None:
    node = require_tool("node", "apt-get install nodejs")
    install()
    topic = "node-kafkajs"
    out = run_program([node, "scenario.js", broker.bootstrap, topic, f"{topic}-group"], NODE_DIR)
    check_client("kafkajs 2.2.4", out, broker, topic)


@pytest.mark.timeout(900)
def test_kafkajs_transactions(broker: BrokerProcess) -> None:
    """kafkajs' transactional producer: read_committed sees the committed records only,
    read_uncommitted the aborted ones too, markers count in the end offset, and a second
    producer with the same transactional id fences the first."""
    node = require_tool("node", "apt-get install nodejs")
    install()
    out = run_program([node, "transactions.js", broker.bootstrap, "node-txn", "node-txn-id"],
                      NODE_DIR)  # fmt: skip
    report = json.loads(out.strip().splitlines()[-1])
    # kafkajs sends pre-KIP-588 versions: Kafka answers INVALID_PRODUCER_EPOCH there.
    assert report["fenced"] == "INVALID_PRODUCER_EPOCH"
    assert report["committed"] == ["c0", "c1", "c2", "c5", "c6"]
    assert report["uncommitted"] == ["c0", "c1", "c2", "a3", "a4", "c5", "c6"]
    assert report["end_offset"] == 11  # 7 records and 4 markers (commit, abort, commit, commit)

"""The ZooKeeper test fixture itself: real servers, quorum behaviour, clean-up."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from helpers.zookeeper import ZooKeeperEnsemble, four_letter_word, wait_for

from cluster.zk.client import ZkClient


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is not a leak, but our fixture reaps its children anyway.
    with open(f"/proc/{pid}/stat") as f:
        return f.read().split()[2] != "Z"


def test_shared_ensemble_serves_with_one_leader(zk_ensemble: ZooKeeperEnsemble) -> None:
    modes = sorted(n.mode() or "down" for n in zk_ensemble.nodes)
    assert modes == ["follower", "follower", "leader"]
    for node in zk_ensemble.nodes:
        assert four_letter_word(node.client_port, "ruok") == "imok"
        config = node.config_path.read_text()
        assert "4lw.commands.whitelist=*" in config and "admin.enableServer=false" in config
        assert (node.data_dir / "myid").read_text().strip() == str(node.node_id)
        for other in zk_ensemble.nodes:
            line = f"server.{other.node_id}=127.0.0.1:{other.ports.peer}:{other.ports.election}"
            assert line in config
    hosts = ",".join(f"127.0.0.1:{n.client_port}" for n in zk_ensemble.nodes)
    assert zk_ensemble.connect_string() == hosts
    assert zk_ensemble.connect_string("/josef") == hosts + "/josef"
    with pytest.raises(ValueError):
        zk_ensemble.connect_string("josef")


def test_single_node_runs_standalone(zk_single: ZooKeeperEnsemble) -> None:
    (node,) = zk_single.nodes
    assert node.mode() == "standalone"
    assert "server.1=" not in node.config_path.read_text()
    assert node.log_path.exists()  # the server logs to the test's directory


async def test_quorum_loss_and_recovery_keep_the_data(zk_fresh_ensemble: ZooKeeperEnsemble) -> None:
    ensemble = zk_fresh_ensemble
    async with ZkClient(ensemble.connect_string("/q"), session_timeout_ms=20000) as zk:
        await zk.create("/kept", b"data")
    old_leader = ensemble.leader()
    old_leader.kill()
    ensemble.wait_serving()
    assert ensemble.leader() is not old_leader
    # Two of three down: no quorum, nobody serves.
    follower = ensemble.followers()[0]
    follower.stop()
    wait_for(
        lambda: all(n.mode() is None for n in ensemble.nodes if n.running),
        what="the last node to stop serving without a quorum",
    )
    ensemble.start_all()
    assert ensemble.healthy()
    async with ZkClient(ensemble.connect_string("/q")) as zk:
        assert (await zk.get("/kept"))[0] == b"data"


def test_close_leaves_no_process_behind(tmp_path: Path) -> None:
    ensemble = ZooKeeperEnsemble(tmp_path / "zk", size=3).start()
    pids = [n.pid for n in ensemble.nodes]
    assert all(pid is not None and _alive(pid) for pid in pids)
    ensemble.nodes[1].pause()  # even a stopped (SIGSTOP) node is killed
    ensemble.close()
    assert not any(pid is not None and _alive(pid) for pid in pids)
    ensemble.close()  # idempotent

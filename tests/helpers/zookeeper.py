"""A real ZooKeeper ensemble on loopback for tests (Debian's ``zookeeper`` package).

``ZooKeeperEnsemble(tmpdir, size=3)`` writes, per node, a ``zoo.cfg`` (dataDir, clientPort,
tickTime, initLimit, syncLimit, ``server.N=127.0.0.1:PEER:ELECTION``,
``4lw.commands.whitelist=*``, ``admin.enableServer=false``), a ``myid`` and a
``log4j.properties``, starts every node and waits until each one answers ``srvr`` with a
serving mode and the ensemble has exactly one leader. ``size=1`` runs a standalone server.

Each node is ``java ... org.apache.zookeeper.server.quorum.QuorumPeerMain zoo.cfg`` with the
jars of Debian's ``libzookeeper-java`` (what ``/usr/share/zookeeper/bin/zkServer.sh
start-foreground`` runs), started directly rather than through the script because the
script's fixed classpath has no slf4j binding (the server would log nothing) and turns on
JMX; here each node logs to ``<node dir>/zookeeper.log`` and its console to ``stdout.log``.

Processes run in their own process group and are killed with it; :meth:`close` (also on
``__exit__``, at interpreter exit and from the pytest fixtures) never leaves a Java process
behind, and a node started from the main thread also dies with the test process
(``setpriv --pdeathsig KILL``).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

ZOOKEEPER_HOME = Path("/usr/share/zookeeper")
JAVA_LIB = Path("/usr/share/java")
# zookeeper.jar's manifest Class-Path names its dependencies; slf4j-log4j12 + log4j-1.2
# (dependencies of libzookeeper-java) give it a log backend.
CLASSPATH_JARS = ("zookeeper.jar", "slf4j-log4j12.jar", "log4j-1.2.jar")
MAIN_CLASS = "org.apache.zookeeper.server.quorum.QuorumPeerMain"
JVM_FLAGS = (
    "-Xms32m",
    "-Xmx192m",
    "-XX:+UseSerialGC",
    "-XX:TieredStopAtLevel=1",  # C1 only: faster start, less CPU on a small machine
    "-Djava.net.preferIPv4Stack=true",
    "-Dzookeeper.admin.enableServer=false",
    "-Dzookeeper.forceSync=no",  # a test fixture: no fsync per transaction
    # Leader election re-sends notifications with a backoff up to 60 s; peers that start a
    # moment later would then wait seconds. Keep the backoff short.
    "-Dzookeeper.fle.maxNotificationInterval=400",
)

TICK_TIME_MS = 250
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 15.0
SERVING_MODES = frozenset({"leader", "follower", "standalone"})


class ZooKeeperError(RuntimeError):
    """The ensemble could not be started or did not reach the expected state."""


def zookeeper_classpath() -> str:
    missing = [jar for jar in CLASSPATH_JARS if not (JAVA_LIB / jar).exists()]
    if missing or not (ZOOKEEPER_HOME / "bin" / "zkServer.sh").exists():
        raise ZooKeeperError(
            f"ZooKeeper is not installed (missing {missing or [str(ZOOKEEPER_HOME)]}): "
            "apt-get install -y zookeeper default-jre-headless"
        )
    return ":".join(str(JAVA_LIB / jar) for jar in CLASSPATH_JARS)


def java_binary() -> str:
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / "java").exists():
        return str(Path(java_home) / "bin" / "java")
    found = shutil.which("java")
    if found is None:
        raise ZooKeeperError("java not found: apt-get install -y default-jre-headless")
    return found


def four_letter_word(port: int, command: str, timeout: float = 2.0, host: str = "127.0.0.1") -> str:
    """Send a ZooKeeper four-letter command (``srvr``, ``ruok``, ``mntr`` ...); the answer."""
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.settimeout(timeout)
        s.sendall(command.encode("ascii"))
        chunks: list[bytes] = []
        while chunk := s.recv(4096):
            chunks.append(chunk)
    return b"".join(chunks).decode("utf-8", "replace")


def _reserve_ports(count: int) -> list[int]:
    """``count`` distinct loopback ports that were free a moment ago.

    All sockets stay bound until every port is chosen, so the list has no duplicates.
    """
    socks: list[socket.socket] = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [int(s.getsockname()[1]) for s in socks]
    finally:
        for s in socks:
            s.close()


def _die_with_parent_prefix() -> list[str]:
    """``setpriv --pdeathsig KILL`` (util-linux, essential on Debian): the JVM gets SIGKILL
    when the thread that started it exits, so a crashed test run leaves no server behind.
    Only from the main thread: a worker thread's exit would kill the node."""
    if threading.current_thread() is not threading.main_thread():
        return []
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", "KILL"] if setpriv else []


def _all_threads_stopped(pid: int) -> bool:
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return True  # gone
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if state not in ("T", "t", "Z", "X"):
            return False
    return True


@dataclass
class NodePorts:
    client: int
    peer: int
    election: int


class ZooKeeperNode:
    """One server of the ensemble: its directory, ports and process."""

    def __init__(self, ensemble: ZooKeeperEnsemble, node_id: int, ports: NodePorts) -> None:
        self.ensemble = ensemble
        self.node_id = node_id
        self.ports = ports
        self.dir = ensemble.base_dir / f"zk{node_id}"
        self.data_dir = self.dir / "data"
        self.config_path = self.dir / "zoo.cfg"
        self.log_path = self.dir / "zookeeper.log"
        self.stdout_path = self.dir / "stdout.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self._stdout: IO[bytes] | None = None

    @property
    def client_port(self) -> int:
        return self.ports.client

    @property
    def address(self) -> str:
        return f"{self.ensemble.client_host}:{self.ports.client}"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def write_config(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        (self.data_dir / "myid").write_text(f"{self.node_id}\n")
        lines = [
            f"tickTime={TICK_TIME_MS}",
            "initLimit=40",
            "syncLimit=20",
            f"minSessionTimeout={2 * TICK_TIME_MS}",
            "maxSessionTimeout=120000",
            f"dataDir={self.data_dir}",
            f"clientPort={self.ports.client}",
            f"clientPortAddress={self.ensemble.client_host}",
            "maxClientCnxns=0",
            "preAllocSize=4096",
            "4lw.commands.whitelist=*",
            "admin.enableServer=false",
            "autopurge.purgeInterval=0",
        ]
        nodes = self.ensemble.nodes
        if len(nodes) > 1:
            lines.append("standaloneEnabled=false")
            lines.extend(
                f"server.{n.node_id}=127.0.0.1:{n.ports.peer}:{n.ports.election}" for n in nodes
            )
        self.config_path.write_text("\n".join(lines) + "\n")
        (self.dir / "log4j.properties").write_text(
            "log4j.rootLogger=INFO, FILE\n"
            "log4j.appender.FILE=org.apache.log4j.FileAppender\n"
            f"log4j.appender.FILE.File={self.log_path}\n"
            "log4j.appender.FILE.layout=org.apache.log4j.PatternLayout\n"
            "log4j.appender.FILE.layout.ConversionPattern=%d{ISO8601} %-5p [%t:%C{1}@%L] - %m%n\n"
        )

    def command(self) -> list[str]:
        return [
            java_binary(),
            *JVM_FLAGS,
            f"-Dzookeeper.log.dir={self.dir}",
            f"-Dlog4j.configuration=file:{self.dir / 'log4j.properties'}",
            "-cp",
            zookeeper_classpath(),
            MAIN_CLASS,
            str(self.config_path),
        ]

    def start(self) -> ZooKeeperNode:
        """Start the process (returns at once; :meth:`ZooKeeperEnsemble.wait_serving` waits)."""
        if self.running:
            return self
        self._close_stdout()
        self._stdout = open(self.stdout_path, "ab")  # noqa: SIM115 - lives as long as the node
        self.proc = subprocess.Popen(
            _die_with_parent_prefix() + self.command(),
            stdin=subprocess.DEVNULL,
            stdout=self._stdout,
            stderr=subprocess.STDOUT,
            cwd=self.dir,
            start_new_session=True,
        )
        return self

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> None:
        """SIGTERM and wait (a clean shutdown); SIGKILL if it does not exit in time."""
        self._signal(signal.SIGTERM)
        self._reap(timeout)

    def kill(self) -> None:
        """SIGKILL the node's process group (a crash)."""
        self._signal(signal.SIGKILL)
        self._reap(STOP_TIMEOUT_S)

    def pause(self) -> None:
        """SIGSTOP: the node stops answering but keeps its sockets open. Returns once every
        thread of the JVM is stopped (a signal is delivered asynchronously)."""
        self._signal(signal.SIGSTOP)
        proc = self.proc
        if proc is None:
            return
        deadline = time.monotonic() + STOP_TIMEOUT_S
        while not _all_threads_stopped(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.005)

    def resume(self) -> None:
        self._signal(signal.SIGCONT)

    def restart(self) -> ZooKeeperNode:
        self.stop()
        return self.start()

    def srvr(self, timeout: float = 2.0) -> dict[str, str]:
        """The ``srvr`` answer as a dict (``Mode``, ``Zxid``, ``Node count`` ...); {} when down
        or not serving."""
        try:
            text = four_letter_word(
                self.ports.client, "srvr", timeout, host=self.ensemble.client_host
            )
        except OSError:
            return {}
        out: dict[str, str] = {}
        for line in text.splitlines():
            key, sep, value = line.partition(":")
            if sep:
                out[key.strip()] = value.strip()
        return out

    def mode(self) -> str | None:
        """``leader``, ``follower``, ``standalone``, or None when not serving."""
        mode = self.srvr().get("Mode")
        return mode if mode in SERVING_MODES else None

    def log_tail(self, lines: int = 40) -> str:
        parts = []
        for path in (self.stdout_path, self.log_path):
            with contextlib.suppress(OSError):
                parts.append("\n".join(path.read_text(errors="replace").splitlines()[-lines:]))
        return "\n".join(parts)

    def _signal(self, sig: signal.Signals) -> None:
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)

    def _reap(self, timeout: float) -> None:
        proc = self.proc
        if proc is None:
            return
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(STOP_TIMEOUT_S)
        # Anything else left in the group (there should be nothing) goes too.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        self._close_stdout()

    def _close_stdout(self) -> None:
        if self._stdout is not None:
            self._stdout.close()
            self._stdout = None

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<ZooKeeperNode {self.node_id} {self.address} {state}>"


_LIVE: weakref.WeakSet[ZooKeeperEnsemble] = weakref.WeakSet()


@atexit.register
def _close_leftovers() -> None:
    for ensemble in list(_LIVE):
        ensemble.close()


class ZooKeeperEnsemble:
    """``size`` ZooKeeper servers on loopback, each with its own ports, data and logs."""

    def __init__(self, base_dir: Path, size: int = 3, client_host: str = "127.0.0.1") -> None:
        if size < 1:
            raise ValueError("an ensemble needs at least one node")
        self.base_dir = Path(base_dir)
        self.size = size
        #: The address clients connect to (another than loopback for network-namespace tests).
        self.client_host = client_host
        self.nodes: list[ZooKeeperNode] = []
        self.start_seconds: float | None = None
        self._assign_ports()
        _LIVE.add(self)

    def _assign_ports(self) -> None:
        ports = _reserve_ports(3 * self.size)
        self.nodes = [
            ZooKeeperNode(self, i + 1, NodePorts(*ports[3 * i : 3 * i + 3]))
            for i in range(self.size)
        ]

    # -- life cycle ----------------------------------------------------------------------
    def start(self, timeout: float = START_TIMEOUT_S, attempts: int = 3) -> ZooKeeperEnsemble:
        """Start every node and wait until the ensemble serves with one leader.

        A node that exits during start (a port taken between choosing and binding) makes the
        whole ensemble retry on fresh ports, up to ``attempts`` times.
        """
        began = time.monotonic()
        for attempt in range(1, attempts + 1):
            self.base_dir.mkdir(parents=True, exist_ok=True)
            for node in self.nodes:
                node.write_config()
            for node in self.nodes:
                node.start()
            try:
                self.wait_serving(timeout=timeout)
            except ZooKeeperError:
                died = any(not n.running for n in self.nodes)
                tails = self.log_tails()
                self.close()
                if not died or attempt == attempts:
                    raise ZooKeeperError(
                        f"ZooKeeper ensemble did not start (attempt {attempt}):\n{tails}"
                    ) from None
                for node in self.nodes:
                    shutil.rmtree(node.dir, ignore_errors=True)
                self._assign_ports()
                _LIVE.add(self)
                continue
            self.start_seconds = time.monotonic() - began
            return self
        raise AssertionError("unreachable")

    def wait_serving(
        self, nodes: Iterable[ZooKeeperNode] | None = None, timeout: float = START_TIMEOUT_S
    ) -> None:
        """Wait until each of ``nodes`` (default: the running ones) serves and, with more
        than one node, exactly one of the running nodes is the leader."""
        wanted = list(nodes) if nodes is not None else [n for n in self.nodes if n.running]
        deadline = time.monotonic() + timeout
        modes: dict[int, str | None] = {}
        while True:
            for node in wanted:
                if not node.running:
                    raise ZooKeeperError(f"{node!r} exited:\n{node.log_tail()}")
            modes = {n.node_id: n.mode() for n in self.nodes if n.running}
            serving = all(modes.get(n.node_id) is not None for n in wanted)
            leaders = [i for i, m in modes.items() if m in ("leader", "standalone")]
            if serving and len(leaders) == 1:
                return
            if time.monotonic() > deadline:
                raise ZooKeeperError(f"ensemble not serving after {timeout:.0f}s: modes {modes}")
            time.sleep(0.05)

    def close(self) -> None:
        """Kill every node (process groups). Safe to call more than once."""
        for node in self.nodes:
            node.kill()
        _LIVE.discard(self)

    def stop(self) -> None:
        """Stop every node cleanly (data kept: :meth:`start_all` brings them back)."""
        for node in self.nodes:
            node.stop()

    def start_all(self, timeout: float = START_TIMEOUT_S) -> None:
        """Start every stopped node again on its old ports and data, and wait until serving."""
        for node in self.nodes:
            node.start()
        self.wait_serving(timeout=timeout)

    def __enter__(self) -> ZooKeeperEnsemble:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- queries and chaos ---------------------------------------------------------------
    def connect_string(self, chroot: str | None = None) -> str:
        """``zookeeper.connect`` for this ensemble: ``127.0.0.1:p1,127.0.0.1:p2,...[/chroot]``."""
        hosts = ",".join(n.address for n in self.nodes)
        if chroot:
            if not chroot.startswith("/"):
                raise ValueError(f"a chroot starts with '/': {chroot!r}")
            return hosts + chroot
        return hosts

    def node(self, node_id: int) -> ZooKeeperNode:
        return self.nodes[node_id - 1]

    def leader(self) -> ZooKeeperNode:
        for node in self.nodes:
            if node.running and node.mode() in ("leader", "standalone"):
                return node
        raise ZooKeeperError("no leader")

    def followers(self) -> list[ZooKeeperNode]:
        return [n for n in self.nodes if n.running and n.mode() == "follower"]

    def healthy(self) -> bool:
        """Every node runs and serves, with one leader."""
        if not all(n.running for n in self.nodes):
            return False
        modes = [n.mode() for n in self.nodes]
        return all(m is not None for m in modes) and (
            sum(m in ("leader", "standalone") for m in modes) == 1
        )

    def ensure_healthy(self, timeout: float = START_TIMEOUT_S) -> None:
        """Restart whatever an earlier test stopped, killed or paused, and wait until serving."""
        if self.healthy():
            return
        for node in self.nodes:
            node.resume()
            node.start()
        self.wait_serving(timeout=timeout)

    def log_tails(self, lines: int = 40) -> str:
        return "\n".join(
            f"----- zk{n.node_id} {n.address} ({n.dir}) -----\n{n.log_tail(lines)}"
            for n in self.nodes
        )

    def __repr__(self) -> str:
        return f"<ZooKeeperEnsemble {self.connect_string()} size={self.size}>"


def expire_session(connect_string: str, session_id: int, password: bytes) -> None:
    """Expire a live ZooKeeper session: a second client joins it and closes it (the
    server then ends the session; its owner sees it expired when it reconnects)."""
    from kazoo.client import KazooClient

    clone = KazooClient(hosts=connect_string, client_id=(session_id, password))
    clone.start(timeout=30)
    try:
        clone.stop()
    finally:
        clone.close()


def wait_for(
    predicate: Callable[[], bool], timeout: float = 30.0, interval: float = 0.05, what: str = ""
) -> None:
    """Poll ``predicate`` until true; AssertionError naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}")
        time.sleep(interval)

"""The JVM peers of the benchmarks: Apache Kafka 3.9 in ZooKeeper mode and its ZooKeeper.

Kafka's jars are never committed: they come from Maven Central with ``mvn`` into a
directory of jars (``--kafka-libs DIR`` or ``KAFKA_LIBS``), see :func:`fetch_command` and
benchmarks/README.md. The ZooKeeper server is the one bundled with those jars
(``org.apache.zookeeper.server.quorum.QuorumPeerMain``, standalone, one node), or Debian's
``libzookeeper-java`` when no Kafka jars are found (enough for a Josef cluster).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

from brokers import BrokerProcess, free_port

KAFKA_VERSION = "3.9.1"
# Where the jars are looked for, in order, when neither --kafka-libs nor KAFKA_LIBS is given.
DEFAULT_KAFKA_LIBS = (
    Path(__file__).resolve().parent / f".kafka-{KAFKA_VERSION}" / "libs",
    Path(f"/work/cache/kafka-{KAFKA_VERSION}/libs"),
)
# What bin/kafka-server-start.sh gives a broker (KAFKA_HEAP_OPTS, KAFKA_JVM_PERFORMANCE_OPTS).
KAFKA_JVM_FLAGS = (
    "-Xms1g",
    "-Xmx1g",
    "-server",
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=20",
    "-XX:InitiatingHeapOccupancyPercent=35",
    "-XX:+ExplicitGCInvokesConcurrent",
    "-XX:MaxInlineLevel=15",
    "-Djava.awt.headless=true",
    "-Djava.net.preferIPv4Stack=true",
)
KAFKA_STARTUP_TIMEOUT_S = 180.0
ZK_JVM_FLAGS = ("-Xms64m", "-Xmx256m", "-Djava.net.preferIPv4Stack=true")
DEBIAN_ZK_JARS = ("zookeeper.jar", "slf4j-log4j12.jar", "log4j-1.2.jar")

POM = f"""<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>josef.bench</groupId><artifactId>kafka-peer</artifactId><version>1</version>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId>
      <version>{KAFKA_VERSION}</version></dependency>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka-tools</artifactId>
      <version>{KAFKA_VERSION}</version></dependency>
    <dependency><groupId>org.slf4j</groupId><artifactId>slf4j-reload4j</artifactId>
      <version>1.7.36</version></dependency>
  </dependencies>
</project>
"""

LOG4J = """log4j.rootLogger=INFO, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.request.logger=WARN
log4j.logger.state.change.logger=WARN
log4j.logger.org.apache.zookeeper=WARN
log4j.logger.kafka.log.LogCleaner=WARN
"""


def find_kafka_libs(explicit: Path | None = None) -> Path | None:
    """The directory holding kafka_2.13-<version>.jar, or None."""
    candidates: list[Path] = []
    if explicit is not None:
        candidates.append(explicit)
    elif os.environ.get("KAFKA_LIBS"):
        candidates.append(Path(os.environ["KAFKA_LIBS"]))
    else:
        candidates.extend(DEFAULT_KAFKA_LIBS)
    for d in candidates:
        if any(d.glob("kafka_2.13-*.jar")):
            return d
    return None


def fetch_command(dest: Path, pom_dir: Path) -> list[str]:
    """``mvn`` copying Kafka's jars and their dependencies from Maven Central into ``dest``
    (the pom is written to ``pom_dir``, a temp dir)."""
    return [
        "mvn",
        "-q",
        "-f",
        str(pom_dir / "pom.xml"),
        "dependency:copy-dependencies",
        f"-DoutputDirectory={dest}",
        "-DincludeScope=runtime",
    ]


def fetch_kafka_libs(dest: Path) -> Path:
    """Download Kafka's jars with mvn into ``dest`` (a temp dir holds the pom)."""
    import tempfile

    if shutil.which("mvn") is None:
        raise RuntimeError("mvn not found (apt-get install maven)")
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="kafka-pom-") as tmp:
        (Path(tmp) / "pom.xml").write_text(POM)
        subprocess.run(fetch_command(dest, Path(tmp)), check=True)
    return dest


def java() -> str:
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").exists():
        return str(Path(home) / "bin" / "java")
    found = shutil.which("java")
    if found is None:
        raise RuntimeError("java not found (apt-get install default-jre-headless)")
    return found


def _write_log4j(workdir: Path) -> Path:
    path = workdir / "log4j.properties"
    if not path.exists():
        path.write_text(LOG4J)
    return path


def four_letter_word(port: int, command: str, timeout: float = 2.0) -> str:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.settimeout(timeout)
        s.sendall(command.encode("ascii"))
        chunks = []
        while chunk := s.recv(4096):
            chunks.append(chunk)
    return b"".join(chunks).decode("utf-8", "replace")


class ZooKeeperServer:
    """One standalone ZooKeeper on loopback for the clusters (and Kafka's single node).

    Brokers use a chroot each (``connect(chroot)``), so one server serves every peer; it
    carries no load while the brokers are measured (a handful of znode writes)."""

    def __init__(self, workdir: Path, kafka_libs: Path | None) -> None:
        self.dir = workdir / "zookeeper"
        self.port = free_port()
        if kafka_libs is not None:
            self.classpath = f"{kafka_libs}/*"
        else:
            jars = [Path("/usr/share/java") / j for j in DEBIAN_ZK_JARS]
            if not all(j.exists() for j in jars):
                raise RuntimeError(
                    "no ZooKeeper: give Kafka's jars (--kafka-libs) or apt-get install zookeeper"
                )
            self.classpath = ":".join(map(str, jars))
        self.proc: BrokerProcess | None = None

    def connect(self, chroot: str = "") -> str:
        return f"127.0.0.1:{self.port}{chroot}"

    def start(self, timeout: float = 60.0) -> None:
        data = self.dir / "data"
        data.mkdir(parents=True, exist_ok=True)
        cfg = self.dir / "zoo.cfg"
        cfg.write_text(
            "\n".join(
                [
                    "tickTime=500",
                    f"dataDir={data}",
                    f"clientPort={self.port}",
                    "clientPortAddress=127.0.0.1",
                    "maxClientCnxns=0",
                    "minSessionTimeout=1000",
                    "maxSessionTimeout=60000",
                    "admin.enableServer=false",
                    "4lw.commands.whitelist=*",
                    "preAllocSize=4096",
                ]
            )
            + "\n"
        )
        log4j = _write_log4j(self.dir)
        argv = [
            java(),
            *ZK_JVM_FLAGS,
            "-Dzookeeper.forceSync=no",  # like the brokers: no fsync per write
            f"-Dlog4j.configuration=file:{log4j}",
            "-cp",
            self.classpath,
            "org.apache.zookeeper.server.quorum.QuorumPeerMain",
            str(cfg),
        ]
        self.proc = BrokerProcess("zookeeper", argv, self.port, self.dir)
        self.proc.start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.proc.alive():
                raise RuntimeError(f"ZooKeeper exited:\n{self.proc.log_tail()}")
            try:
                if "Mode: standalone" in four_letter_word(self.port, "srvr"):
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"ZooKeeper not serving after {timeout:.0f} s")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop()


def kafka_properties(
    broker_id: int, port: int, log_dir: Path, zk_connect: str, extra: dict[str, str]
) -> dict[str, str]:
    listener = f"PLAINTEXT://127.0.0.1:{port}"
    return {
        "broker.id": str(broker_id),
        "listeners": listener,
        "advertised.listeners": listener,
        "log.dirs": str(log_dir),
        "zookeeper.connect": zk_connect,
        **extra,
    }


def make_kafka(
    workdir: Path,
    libs: Path,
    zk_connect: str,
    overrides: dict[str, str],
    broker_id: int = 1,
    name: str = "kafka",
) -> BrokerProcess:
    """``java kafka.Kafka server.properties`` with the settings Josef gets (``overrides``)."""
    port = free_port()
    bdir = workdir / name
    bdir.mkdir(parents=True, exist_ok=True)
    props = kafka_properties(broker_id, port, bdir / "data", zk_connect, overrides)
    cfg = bdir / "server.properties"
    cfg.write_text("".join(f"{k}={v}\n" for k, v in props.items()))
    log4j = _write_log4j(bdir)
    argv = [
        java(),
        *KAFKA_JVM_FLAGS,
        f"-Dlog4j.configuration=file:{log4j}",
        f"-Dkafka.logs.dir={bdir}",
        "-cp",
        f"{libs}/*",
        "kafka.Kafka",
        str(cfg),
    ]
    # a JVM with ~100 jars takes 10-20 s to serve on a quiet 2-core machine, much longer on
    # a loaded one
    return BrokerProcess(name, argv, port, bdir, startup_timeout=KAFKA_STARTUP_TIMEOUT_S)

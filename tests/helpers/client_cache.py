"""Toolchain artefacts for the other-language client tests, fetched at test time.

Nothing here is committed: Maven artefacts are copied with ``mvn dependency:copy-dependencies``
(from Maven Central, through ~/.m2), Go builds use the module proxy with their own module and
build caches, and Node packages come from ``npm ci``. Everything lands under one cache
directory (``JOSEF_TEST_CACHE``, default ``~/.cache/josef-tests``) so a second run is offline
and fast. A directory is only used once a ``.complete`` stamp says its fetch finished.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

CACHE = Path(os.environ.get("JOSEF_TEST_CACHE", Path.home() / ".cache" / "josef-tests"))
FETCH_TIMEOUT_S = 900


def require_tool(name: str, install_hint: str) -> str:
    """The path of ``name``; a test failure (not a skip) when it is missing: .ci/run installs it."""
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} not found on PATH ({install_hint}; .ci/run installs it)")
    return found


def run_fetch(cmd: list[str], cwd: Path, env: dict[str, str] | None = None) -> None:
    done = subprocess.run(
        cmd, cwd=cwd, env={**os.environ, **(env or {})}, capture_output=True, text=True,
        timeout=FETCH_TIMEOUT_S, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        pytest.fail(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")


def maven_libs(name: str, dependencies: list[tuple[str, str, str]]) -> Path:
    """A directory holding the jars of ``dependencies`` (group, artifact, version) and all
    their runtime dependencies, fetched with mvn on first use."""
    dest = CACHE / "maven" / name
    if (dest / ".complete").exists():
        return dest
    mvn = require_tool("mvn", "apt-get install maven")
    deps = "\n".join(
        f"    <dependency><groupId>{g}</groupId><artifactId>{a}</artifactId>"
        f"<version>{v}</version></dependency>"
        for g, a, v in dependencies
    )
    pom_dir = CACHE / "maven" / f".pom-{name}"
    pom_dir.mkdir(parents=True, exist_ok=True)
    (pom_dir / "pom.xml").write_text(
        '<project xmlns="http://maven.apache.org/POM/4.0.0">\n'
        "  <modelVersion>4.0.0</modelVersion>\n"
        f"  <groupId>josef.tests</groupId><artifactId>{name}</artifactId><version>1</version>\n"
        f"  <dependencies>\n{deps}\n  </dependencies>\n</project>\n"
    )
    shutil.rmtree(dest, ignore_errors=True)
    run_fetch(
        [mvn, "-q", "-B", "-f", str(pom_dir / "pom.xml"), "dependency:copy-dependencies",
         f"-DoutputDirectory={dest}", "-DincludeScope=runtime"],
        pom_dir,
    )  # fmt: skip
    (dest / ".complete").write_text("\n".join(":".join(d) for d in dependencies) + "\n")
    return dest


KAFKA_VERSION = "3.9.1"


def kafka_libs() -> Path:
    """Apache Kafka 3.9.1's jars with kafka-tools: ``KAFKA_LIBS`` or /work/cache's copy when
    present, else fetched with mvn into the test cache (as tests/helpers/kafka_process.py and
    benchmarks/jvm.py expect them: kafka_2.13, kafka-tools, slf4j-reload4j)."""
    for candidate in (os.environ.get("KAFKA_LIBS"), f"/work/cache/kafka-{KAFKA_VERSION}/libs"):
        if candidate and (Path(candidate) / f"kafka-tools-{KAFKA_VERSION}.jar").exists():
            return Path(candidate)
    return maven_libs(
        f"kafka-{KAFKA_VERSION}",
        [
            ("org.apache.kafka", "kafka_2.13", KAFKA_VERSION),
            ("org.apache.kafka", "kafka-tools", KAFKA_VERSION),
            ("org.slf4j", "slf4j-reload4j", "1.7.36"),
        ],
    )

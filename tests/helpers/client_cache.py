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


#: The Go release the client modules need (tests/clients/go/go.mod's ``go`` line).
GO_RELEASE = (1, 26, 8)
_GO_PROXY = "https://proxy.golang.org/golang.org/toolchain/@v"


def _go_release(go: str) -> tuple[int, ...] | None:
    done = subprocess.run([go, "env", "GOVERSION"], capture_output=True, text=True, check=False)
    text = done.stdout.strip().removeprefix("go")
    parts = text.split(".")
    if done.returncode != 0 or not all(p.isdigit() for p in parts):
        return None
    return tuple(int(p) for p in parts)


def go_toolchain() -> str:
    """A ``go`` at least GO_RELEASE: the one on PATH when recent enough, else Go's own
    toolchain module from the module proxy (Debian 12's golang-go is 1.19, which predates
    toolchain switching), unpacked once into the cache."""
    local = shutil.which("go")
    if local is not None and (_go_release(local) or (0,)) >= GO_RELEASE:
        return local
    version = "go" + ".".join(map(str, GO_RELEASE))
    machine = {"x86_64": "amd64", "aarch64": "arm64"}.get(os.uname().machine, os.uname().machine)
    dest = CACHE / "go" / "toolchain" / version
    go = dest / "bin" / "go"
    if (dest / ".complete").exists():
        return str(go)
    import io
    import urllib.request
    import zipfile

    url = f"{_GO_PROXY}/v0.0.1-{version}.linux-{machine}.zip"
    try:
        with urllib.request.urlopen(url, timeout=FETCH_TIMEOUT_S) as response:
            data = response.read()
    except OSError as exc:
        pytest.fail(f"no Go >= {version} on PATH and {url} could not be fetched: {exc}")
    shutil.rmtree(dest, ignore_errors=True)
    prefix = f"golang.org/toolchain@v0.0.1-{version}.linux-{machine}/"
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for info in archive.infolist():
            if not info.filename.startswith(prefix) or info.is_dir():
                continue
            target = dest / info.filename[len(prefix) :]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(archive.read(info))
            mode = (info.external_attr >> 16) & 0o777
            if mode:
                target.chmod(mode)
    (dest / ".complete").touch()
    return str(go)

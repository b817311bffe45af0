"""The C load driver (rdkafka_driver.c): built on first use, run as a subprocess.

It links the librdkafka that the confluent-kafka wheel bundles (the same version as the
Python client) when it finds it, else the system's ``-lrdkafka``. The headers come from
Debian's ``librdkafka-dev`` (``apt-get install librdkafka-dev``): the C API is stable, so
2.0's headers compile against 2.16's library. librdkafka's own ``rdkafka_performance``
example (shipped in librdkafka-dev's docs) does not build outside librdkafka's source
tree: it includes the library's private headers (``rd.h``, ``rdtime.h``).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from workloads import Throughput

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "rdkafka_driver.c"
BUILD_DIR = HERE / ".build"
RUN_TIMEOUT_S = 600.0


class DriverUnavailable(RuntimeError):
    """The C driver cannot be built here (no compiler or no librdkafka headers)."""


def _bundled_librdkafka() -> Path | None:
    try:
        import confluent_kafka
    except ImportError:
        return None
    libs = Path(confluent_kafka.__file__).resolve().parent.parent / "confluent_kafka.libs"
    found = sorted(libs.glob("librdkafka*.so*"))
    return found[0] if found else None


def link_flags() -> tuple[list[str], str]:
    """(linker arguments, description of the librdkafka linked)."""
    lib = _bundled_librdkafka()
    if lib is not None:
        return [f"-L{lib.parent}", f"-l:{lib.name}", f"-Wl,-rpath,{lib.parent}"], str(lib)
    return ["-lrdkafka"], "system librdkafka"


def build(force: bool = False) -> Path:
    """Compile the driver if needed; its path. Raises DriverUnavailable."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        raise DriverUnavailable("no C compiler (apt-get install gcc)")
    if not Path("/usr/include/librdkafka/rdkafka.h").exists():
        raise DriverUnavailable("no librdkafka headers (apt-get install librdkafka-dev)")
    flags, lib = link_flags()
    BUILD_DIR.mkdir(exist_ok=True)
    exe = BUILD_DIR / "rdkafka_driver"
    stamp = BUILD_DIR / "rdkafka_driver.lib"
    fresh = (
        exe.exists()
        and exe.stat().st_mtime >= SOURCE.stat().st_mtime
        and stamp.exists()
        and stamp.read_text() == lib
    )
    if fresh and not force:
        return exe
    cmd = [cc, "-O2", "-Wall", "-o", str(exe), str(SOURCE), *flags]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise DriverUnavailable(f"build failed: {' '.join(cmd)}\n{proc.stderr[-2000:]}")
    stamp.write_text(lib)
    return exe


def librdkafka_version(exe: Path) -> str:
    """The librdkafka the driver runs with (what ``ldd`` resolves)."""
    out = subprocess.run(["ldd", str(exe)], capture_output=True, text=True).stdout
    for line in out.splitlines():
        if "rdkafka" in line:
            return line.split("=>")[-1].split("(")[0].strip()
    return "?"


def parse_result(stdout: str) -> Throughput:
    """The driver's JSON line as a Throughput."""
    for line in reversed(stdout.strip().splitlines()):
        if line.startswith("{"):
            d = json.loads(line)
            return Throughput(int(d["records"]), int(d["bytes"]), float(d["seconds"]))
    raise RuntimeError(f"no result from the C driver: {stdout[-500:]!r}")


def _run(exe: Path, args: list[str]) -> Throughput:
    proc = subprocess.run(
        [str(exe), *args], capture_output=True, text=True, timeout=RUN_TIMEOUT_S
    )
    if proc.returncode != 0:
        raise RuntimeError(f"C driver failed: {(proc.stderr or proc.stdout).strip()[-500:]}")
    return parse_result(proc.stdout)


def c_produce(
    exe: Path, bootstrap: str, topic: str, size: int, records: int, acks: str
) -> Throughput:
    return _run(exe, ["produce", bootstrap, topic, str(size), str(records), acks])


def c_consume(exe: Path, bootstrap: str, topic: str, size: int, records: int) -> Throughput:
    return _run(exe, ["consume", bootstrap, topic, str(size), str(records)])

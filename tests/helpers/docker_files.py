"""Read docker/: Dockerfile instructions, .dockerignore matching, the resolved compose file.

No Docker engine runs on the test machines: the compose file is resolved with the
``docker-compose`` binary's ``config`` command (Debian's docker-compose 1.29, or any later
one) and checked here; the Dockerfile is parsed by :func:`dockerfile_instructions`.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
DOCKER_DIR = REPO_ROOT / "docker"
DOCKERFILE = DOCKER_DIR / "Dockerfile"
COMPOSE_FILE = DOCKER_DIR / "docker-compose.yml"
SERVER_PROPERTIES = DOCKER_DIR / "server.properties"
DOCKERIGNORE = REPO_ROOT / ".dockerignore"


@dataclass(frozen=True)
class Instruction:
    """One Dockerfile instruction: upper-cased keyword and its argument text."""

    keyword: str
    args: str

    def exec_form(self) -> list[str] | None:
        """The JSON array of an exec-form argument, or None for the shell form."""
        text = self.args.strip()
        if not text.startswith("["):
            return None
        value = json.loads(text)
        assert isinstance(value, list) and all(isinstance(v, str) for v in value), text
        return value


def dockerfile_instructions(path: Path = DOCKERFILE) -> list[Instruction]:
    """Instructions in order; comments dropped, backslash continuations joined."""
    instructions: list[Instruction] = []
    pending = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue  # comment lines inside a continued instruction are ignored
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        text = pending + line
        pending = ""
        keyword, _, args = text.partition(" ")
        instructions.append(Instruction(keyword.upper(), " ".join(args.split())))
    assert not pending, "Dockerfile ends inside a continued instruction"
    return instructions


def healthcheck_command(instructions: list[Instruction]) -> list[str]:
    """The exec-form CMD of the (last) HEALTHCHECK instruction."""
    (check,) = [i for i in instructions if i.keyword == "HEALTHCHECK"][-1:]
    _options, sep, command = check.args.partition("CMD ")
    assert sep, f"HEALTHCHECK without CMD: {check.args}"
    argv = Instruction("CMD", command).exec_form()
    assert argv is not None, "HEALTHCHECK CMD must be exec form"
    return argv


# --- .dockerignore ----------------------------------------------------------------------


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    out = ""
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if pattern.startswith("**/", i):
            out += "(?:.*/)?"
            i += 3
            continue
        if pattern.startswith("**", i):
            out += ".*"
            i += 2
            continue
        if c == "*":
            out += "[^/]*"
        elif c == "?":
            out += "[^/]"
        elif c == "[":
            end = pattern.index("]", i)
            out += pattern[i : end + 1]
            i = end
        else:
            out += re.escape(c)
        i += 1
    return re.compile(out + "$")


@cache
def dockerignore_rules(path: Path = DOCKERIGNORE) -> tuple[tuple[bool, re.Pattern[str]], ...]:
    rules: list[tuple[bool, re.Pattern[str]]] = []
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        include = line.startswith("!")
        pattern = line[1:].strip() if include else line
        pattern = pattern.strip("/")
        rules.append((include, _pattern_regex(pattern)))
    return tuple(rules)


def in_build_context(relpath: str) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parents decides."""
    parts = relpath.strip("/").split("/")
    candidates = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    included = True
    for include, regex in dockerignore_rules():
        if any(regex.match(c) for c in candidates):
            included = include
    return included


# --- the compose file -------------------------------------------------------------------


def docker_compose_binary() -> str | None:
    return shutil.which("docker-compose")


def compose_config(binary: str) -> dict[str, Any]:
    """``docker-compose -f docker/docker-compose.yml config``, parsed; asserts success."""
    import yaml  # the test extras install PyYAML

    proc = subprocess.run(
        [binary, "-f", str(COMPOSE_FILE), "config"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, f"docker-compose config failed:\n{proc.stderr}"
    config = yaml.safe_load(proc.stdout)
    assert isinstance(config, dict)
    return config


def volume_mounts(service: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(type, source, target) of each mount, from the short or the long syntax."""
    mounts: list[tuple[str, str, str]] = []
    for entry in service.get("volumes", []):
        if isinstance(entry, str):
            source, _, rest = entry.partition(":")
            target = rest.split(":")[0]
            kind = "bind" if source.startswith(("/", ".", "~")) else "volume"
            mounts.append((kind, source, target))
        else:
            mounts.append((entry["type"], entry.get("source", ""), entry["target"]))
    return mounts


def published_ports(service: dict[str, Any]) -> list[tuple[int, int]]:
    """(published host port, container port) pairs, from the short or the long syntax."""
    pairs: list[tuple[int, int]] = []
    for entry in service.get("ports", []):
        if isinstance(entry, dict):
            pairs.append((int(entry["published"]), int(entry["target"])))
        else:
            text = str(entry).split("/")[0]
            *_host, published, target = text.split(":")
            pairs.append((int(published), int(target)))
    return pairs


_DURATION = re.compile(r"(\d+(?:\.\d+)?)(h|ms|m|s|us|ns)")
_UNIT_S = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9}


def duration_s(text: str | int) -> float:
    """A compose duration ("60s", "1m0s", "1m30s") in seconds."""
    if isinstance(text, int):
        return float(text)
    parts = _DURATION.findall(text)
    assert parts and "".join(n + u for n, u in parts) == text, f"not a duration: {text!r}"
    return sum(float(n) * _UNIT_S[u] for n, u in parts)

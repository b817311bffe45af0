"""Network namespaces for partition tests: each broker on its own host, cut off at will.

A Linux bridge in the root namespace (gateway address ``.1`` of a private /24) connects one
network namespace per host through a veth pair. ZooKeeper and the test's clients stay in the
root namespace and reach the hosts through the bridge; brokers run inside their namespaces
(``ip netns exec``) and reach each other and ZooKeeper through it too. :meth:`NetnsLab.cut`
takes a host's link down (it can reach nobody and nobody can reach it) and :meth:`heal`
brings it back. Needs root and iproute2 (``ip netns``); everything is removed on close.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from helpers.broker_process import BrokerProcess, free_port


def available() -> str | None:
    """None when namespaces can be made here, else why not."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    if shutil.which("ip") is None:
        return "iproute2 (ip) is not installed"
    probe = f"jprobe{os.getpid() % 10000}"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if made.returncode != 0:
        return f"ip netns add failed: {made.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return None


def _ip(*args: str) -> None:
    result = subprocess.run(["ip", *args], capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {result.stderr.strip()}")


@dataclass(slots=True)
class Host:
    name: str
    namespace: str
    address: str
    host_link: str  # the veth end on the bridge


class NetnsLab:
    """A bridge and per-host namespaces on a random 10.x.y.0/24."""

    def __init__(self) -> None:
        tag = f"{os.getpid() % 1000}{random.randrange(100)}"
        self.bridge = f"jbr{tag}"
        self.prefix = f"10.{random.randrange(64, 250)}.{random.randrange(1, 250)}"
        self.gateway = f"{self.prefix}.1"
        self.tag = tag
        self.hosts: dict[str, Host] = {}
        _ip("link", "add", self.bridge, "type", "bridge")
        _ip("addr", "add", f"{self.gateway}/24", "dev", self.bridge)
        _ip("link", "set", self.bridge, "up")

    def add_host(self, name: str) -> Host:
        index = len(self.hosts) + 10
        ns = f"jns{self.tag}{name}"
        host_link, ns_link = f"jv{self.tag}{index}", f"jn{self.tag}{index}"
        address = f"{self.prefix}.{index}"
        _ip("netns", "add", ns)
        _ip("link", "add", host_link, "type", "veth", "peer", "name", ns_link)
        _ip("link", "set", host_link, "master", self.bridge)
        _ip("link", "set", host_link, "up")
        _ip("link", "set", ns_link, "netns", ns)
        _ip("-n", ns, "addr", "add", f"{address}/24", "dev", ns_link)
        _ip("-n", ns, "link", "set", ns_link, "up")
        _ip("-n", ns, "link", "set", "lo", "up")
        _ip("-n", ns, "route", "add", "default", "via", self.gateway)
        host = Host(name, ns, address, host_link)
        self.hosts[name] = host
        return host

    def cut(self, name: str) -> None:
        """Isolate a host from everything (its link to the bridge goes down)."""
        _ip("link", "set", self.hosts[name].host_link, "down")

    def heal(self, name: str) -> None:
        _ip("link", "set", self.hosts[name].host_link, "up")

    def run_in(self, name: str, argv: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
        return subprocess.run(  # type: ignore[call-overload, no-any-return]
            ["ip", "netns", "exec", self.hosts[name].namespace, *argv],
            capture_output=True,
            text=True,
            **kw,
        )

    def close(self) -> None:
        for host in self.hosts.values():
            subprocess.run(["ip", "link", "del", host.host_link], capture_output=True)
            subprocess.run(["ip", "netns", "del", host.namespace], capture_output=True)
        subprocess.run(["ip", "link", "del", self.bridge], capture_output=True)
        self.hosts.clear()


class NetnsBroker(BrokerProcess):
    """A Josef broker inside a namespace, listening on the namespace's address."""

    def __init__(
        self, workdir: Path, host: Host, broker_id: int, overrides: dict[str, str]
    ) -> None:
        super().__init__(workdir, overrides, name=f"broker{broker_id}", broker_id=broker_id,
                         port=free_port())
        self.net = host

    @property
    def host(self) -> str:
        return self.net.address

    @property
    def bootstrap(self) -> str:
        return f"{self.net.address}:{self.port}"

    def command(self) -> list[str]:
        settings = {
            "broker.id": str(self.broker_id),
            "listeners": f"PLAINTEXT://{self.net.address}:{self.port}",
            "advertised.listeners": f"PLAINTEXT://{self.net.address}:{self.port}",
            "log.dirs": str(self.data_dir),
            **self.overrides,
        }
        cmd = ["ip", "netns", "exec", self.net.namespace, sys.executable, "-m", "broker", "start"]
        for key, value in settings.items():
            cmd += ["--override", f"{key}={value}"]
        return cmd

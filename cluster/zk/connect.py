"""``zookeeper.connect``: a host list with an optional chroot (``h1:2181,h2:2181/kafka``)."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_PORT = 2181


@dataclass(frozen=True, slots=True)
class ConnectString:
    """A parsed ``zookeeper.connect`` value; ``str()`` gives it back in canonical form."""

    hosts: tuple[tuple[str, int], ...]
    chroot: str | None = None

    @classmethod
    def parse(cls, text: str) -> ConnectString:
        """Parse ``host[:port][,host[:port]...][/chroot]`` (IPv6 hosts in brackets).

        ValueError with the reason for an empty host list, a bad port, or a chroot that is
        not a valid ZooKeeper path (``/`` alone means no chroot, as in ZooKeeper).
        """
        raw = text.strip()
        slash = raw.find("/")
        host_part, chroot = (raw, None) if slash < 0 else (raw[:slash], raw[slash:])
        hosts: list[tuple[str, int]] = []
        for item in host_part.split(","):
            item = item.strip()
            if not item:
                continue
            hosts.append(_parse_host(item, text))
        if not hosts:
            raise ValueError(f"zookeeper.connect {text!r} names no host")
        if chroot is not None:
            chroot = _check_chroot(chroot, text)
        return cls(tuple(hosts), chroot)

    def hosts_string(self) -> str:
        return ",".join(f"[{h}]:{p}" if ":" in h else f"{h}:{p}" for h, p in self.hosts)

    def without_chroot(self) -> ConnectString:
        return ConnectString(self.hosts, None)

    def with_chroot(self, chroot: str | None) -> ConnectString:
        return ConnectString(self.hosts, _check_chroot(chroot, chroot) if chroot else None)

    def __str__(self) -> str:
        return self.hosts_string() + (self.chroot or "")


def _parse_host(item: str, text: str) -> tuple[str, int]:
    if item.startswith("["):
        end = item.find("]")
        if end < 0:
            raise ValueError(f"zookeeper.connect {text!r}: unclosed '[' in {item!r}")
        host, rest = item[1:end], item[end + 1 :]
        port_text = rest[1:] if rest.startswith(":") else ""
        if rest and not rest.startswith(":"):
            raise ValueError(f"zookeeper.connect {text!r}: bad host {item!r}")
    else:
        host, sep, port_text = item.rpartition(":")
        if not sep:
            host, port_text = item, ""
    if not host:
        raise ValueError(f"zookeeper.connect {text!r}: empty host in {item!r}")
    if not port_text:
        return host, DEFAULT_PORT
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"zookeeper.connect {text!r}: bad port in {item!r}")
    return host, int(port_text)


def _check_chroot(chroot: str, text: str) -> str | None:
    if chroot == "/":
        return None
    parts = chroot.split("/")
    bad_part = any(p in ("", ".", "..") for p in parts[1:])
    if not chroot.startswith("/") or chroot.endswith("/") or bad_part:
        raise ValueError(f"zookeeper.connect {text!r}: invalid chroot path {chroot!r}")
    return chroot

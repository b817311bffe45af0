"""Znode stats and the operations of a ZooKeeper multi (check, create, set, delete)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class ZnodeStat:
    """ZooKeeper's ``Stat``. ``version`` is the data version (Kafka's "zkVersion", the
    compare-and-set token and, for partition state, the partition epoch); ``czxid`` of a
    broker's registration is its broker epoch; ``ephemeral_owner`` is the owning session id
    (0 for persistent znodes)."""

    czxid: int
    mzxid: int
    ctime: int
    mtime: int
    version: int
    cversion: int
    aversion: int
    ephemeral_owner: int
    data_length: int
    num_children: int
    pzxid: int

    @classmethod
    def from_kazoo(cls, stat: Any) -> ZnodeStat:
        return cls(
            czxid=int(stat.czxid),
            mzxid=int(stat.mzxid),
            ctime=int(stat.ctime),
            mtime=int(stat.mtime),
            version=int(stat.version),
            cversion=int(stat.cversion),
            aversion=int(stat.aversion),
            ephemeral_owner=int(stat.ephemeralOwner),
            data_length=int(stat.dataLength),
            num_children=int(stat.numChildren),
            pzxid=int(stat.pzxid),
        )

    @property
    def ephemeral(self) -> bool:
        return self.ephemeral_owner != 0


@dataclass(frozen=True, slots=True)
class CheckOp:
    """Fails the multi unless ``path`` is at ``version`` (Kafka fences the controller with a
    check on ``/controller_epoch``'s version)."""

    path: str
    version: int


@dataclass(frozen=True, slots=True)
class CreateOp:
    path: str
    data: bytes = b""
    ephemeral: bool = False
    sequential: bool = False


@dataclass(frozen=True, slots=True)
class SetDataOp:
    path: str
    data: bytes
    version: int = -1


@dataclass(frozen=True, slots=True)
class DeleteOp:
    path: str
    version: int = -1


Op = CheckOp | CreateOp | SetDataOp | DeleteOp


@dataclass(frozen=True, slots=True)
class OpResult:
    """One op's outcome in a successful multi: the created path (with its sequence suffix)
    for a create, the new stat for a set."""

    op: Op
    path: str
    stat: ZnodeStat | None = None

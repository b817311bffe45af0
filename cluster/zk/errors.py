"""ZooKeeper errors as Josef raises them: one class per ZooKeeper result code Kafka handles.

kazoo's exception classes stay inside :mod:`cluster.zk.client`; callers catch these (named
after ZooKeeper's ``KeeperException.Code``), so the rest of the code base never imports kazoo.
"""

from __future__ import annotations

from typing import Any


class ZooKeeperError(Exception):
    """Base class: a ZooKeeper request failed. ``path`` names the znode when known."""

    code = "SYSTEMERROR"

    def __init__(self, message: str = "", path: str | None = None) -> None:
        self.path = path
        text = message or self.code
        super().__init__(f"{text} ({path})" if path else text)


class NoNodeError(ZooKeeperError):
    code = "NONODE"


class NodeExistsError(ZooKeeperError):
    code = "NODEEXISTS"


class BadVersionError(ZooKeeperError):
    """A compare-and-set lost: the znode's version is not the expected one."""

    code = "BADVERSION"


class NotEmptyError(ZooKeeperError):
    code = "NOTEMPTY"


class NoChildrenForEphemeralsError(ZooKeeperError):
    code = "NOCHILDRENFOREPHEMERALS"


class ConnectionLossError(ZooKeeperError):
    """The connection dropped before the answer came: a write may or may not have applied."""

    code = "CONNECTIONLOSS"


class SessionExpiredError(ZooKeeperError):
    """The session is gone (its ephemeral znodes and watches with it)."""

    code = "SESSIONEXPIRED"


class AuthFailedError(ZooKeeperError):
    code = "AUTHFAILED"


class NoAuthError(ZooKeeperError):
    code = "NOAUTH"


class ClientClosedError(ZooKeeperError):
    code = "CLOSED"


class RolledBackError(ZooKeeperError):
    """An operation of a failed multi that was not itself the cause (it was rolled back)."""

    code = "ROLLEDBACK"


class RequestTimeoutError(ZooKeeperError, TimeoutError):
    """No answer within the request's deadline (a write may still apply later)."""

    code = "TIMEOUT"


class ConnectTimeoutError(ZooKeeperError, TimeoutError):
    """No session within ``zookeeper.connection.timeout.ms``."""

    code = "CONNECTTIMEOUT"

    def __init__(self, connect_string: str, timeout_ms: int) -> None:
        self.connect_string = connect_string
        self.timeout_ms = timeout_ms
        super().__init__(
            f"Timed out waiting for connection to ZooKeeper at {connect_string} "
            f"(zookeeper.connection.timeout.ms={timeout_ms})"
        )


class TransactionFailedError(ZooKeeperError):
    """A multi-op transaction failed as a whole; ``index`` is the op that caused it."""

    code = "MULTIFAILED"

    def __init__(self, index: int, op: Any, cause: ZooKeeperError) -> None:
        self.index = index
        self.op = op
        self.cause = cause
        super().__init__(f"multi op #{index} ({type(op).__name__}) failed: {cause}")


class ZnodeDecodeError(ValueError):
    """A znode's data is not what Kafka writes there (bad JSON, missing or mistyped field)."""

    def __init__(self, what: str, reason: str, data: bytes | None) -> None:
        self.what = what
        self.reason = reason
        self.data = data
        shown = "null" if data is None else data[:200].decode("utf-8", "replace")
        super().__init__(f"malformed {what}: {reason}: {shown}")

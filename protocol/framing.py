"""Length-prefixed Kafka frames: a sans-io decoder fed with bytes from a socket."""

from __future__ import annotations

import struct
from typing import Final

from protocol.errors import ProtocolViolation

_SIZE: Final = struct.Struct(">i")


class FrameTooLarge(ProtocolViolation):
    """A frame longer than socket.request.max.bytes; the connection is closed."""


class FrameDecoder:
    """Splits a byte stream into request frames (without the 4-byte size prefix).

    The size is validated before any buffer for the frame is set aside, so a
    hostile length cannot make the broker allocate memory.
    """

    __slots__ = ("_buf", "_limit_name", "_max_size")

    def __init__(self, max_size: int, limit_name: str = "socket.request.max.bytes") -> None:
        self._buf = bytearray()
        self._max_size = max_size
        self._limit_name = limit_name  # the setting named when a frame is refused

    @property
    def max_size(self) -> int:
        return self._max_size

    @max_size.setter
    def max_size(self, value: int) -> None:
        # SASL listeners accept only small frames until the client is authenticated.
        self._max_size = value

    @property
    def buffered(self) -> int:
        """Bytes of an incomplete frame held (its size prefix included)."""
        return len(self._buf)

    def clear(self) -> None:
        """Drop a partial frame (the connection is closing): its memory is freed now, not
        when the connection object is eventually collected."""
        self._buf = bytearray()

    @property
    def pending_size(self) -> int | None:
        """The declared size of the incomplete frame being buffered, once its 4-byte prefix
        has arrived (None otherwise). Already checked against the maximum."""
        if len(self._buf) < 4:
            return None
        size: int = _SIZE.unpack_from(self._buf, 0)[0]
        return size

    def feed(self, data: bytes) -> list[bytes]:
        buf = self._buf
        if buf:
            buf += data
            source: bytes | bytearray = buf
        else:
            source = data  # common case: parse straight from the received bytes
        view = memoryview(source)
        frames: list[bytes] = []
        pos = 0
        end = len(source)
        try:
            while end - pos >= 4:
                (size,) = _SIZE.unpack_from(source, pos)
                if size < 0 or size > self._max_size:
                    raise FrameTooLarge(
                        f"frame of {size} bytes exceeds {self._limit_name}={self._max_size}"
                        if size >= 0
                        else f"negative frame size {size}"
                    )
                if end - pos - 4 < size:
                    break
                frames.append(bytes(view[pos + 4 : pos + 4 + size]))
                pos += 4 + size
        finally:
            view.release()
        if source is buf:
            if pos:
                del buf[:pos]
        elif pos < end:
            buf += data[pos:] if pos else data
        return frames


def frame(payload: bytes) -> bytes:
    return _SIZE.pack(len(payload)) + payload

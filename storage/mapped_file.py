"""A shared, writable memory map of a file that holds no file descriptor.

Python's ``mmap.mmap`` keeps a duplicate of the file's descriptor for as long
as the map lives (until Python 3.13's ``trackfd=False``), so every mapped
index would cost a descriptor. Kafka's indexes cost none: the JVM's
``MappedByteBuffer`` outlives the channel it was mapped from. ``MappedRegion``
does the same through libc's ``mmap``/``munmap``: map with a descriptor the
caller then closes.

Safety: the mapped memory is only ever touched inside this class, under its
lock, and never after ``close`` (which raises ``ValueError`` on later use
rather than touching unmapped memory). No view of the memory escapes: reads
return ``bytes`` or unpacked values.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import mmap
import os
import struct
import threading
from typing import Any

_libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
_mmap = _libc.mmap
_mmap.restype = ctypes.c_void_p
_mmap.argtypes = (
    ctypes.c_void_p,
    ctypes.c_size_t,
    ctypes.c_int,
    ctypes.c_int,
    ctypes.c_int,
    ctypes.c_int64,  # off_t (64-bit on every Linux target)
)
_munmap = _libc.munmap
_munmap.restype = ctypes.c_int
_munmap.argtypes = (ctypes.c_void_p, ctypes.c_size_t)
_MAP_FAILED = ctypes.c_void_p(-1).value


class MappedRegion:
    """``length`` bytes of a file mapped MAP_SHARED read-write, without a descriptor.

    Not for concurrent writers (the owner serialises); the internal lock only
    guarantees that nobody reads or writes memory that ``close`` unmapped.
    """

    __slots__ = ("_addr", "_length", "_lock", "_view")

    def __init__(self, fd: int, length: int) -> None:
        if length <= 0:
            raise ValueError(f"cannot map {length} bytes")
        addr = _mmap(None, length, mmap.PROT_READ | mmap.PROT_WRITE, mmap.MAP_SHARED, fd, 0)
        if addr is None or addr == _MAP_FAILED:
            err = ctypes.get_errno()
            raise OSError(err, f"mmap of {length} bytes failed: {os.strerror(err)}")
        self._addr: int = addr
        self._length = length
        self._view: memoryview | None = memoryview((ctypes.c_ubyte * length).from_address(addr))
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return self._length

    @property
    def closed(self) -> bool:
        return self._view is None

    def _open_view(self) -> memoryview:
        view = self._view
        if view is None:
            raise ValueError("mapped region is closed")
        return view

    def unpack_from(self, fmt: struct.Struct, pos: int) -> tuple[Any, ...]:
        with self._lock:
            return fmt.unpack_from(self._open_view(), pos)

    def pack_into(self, fmt: struct.Struct, pos: int, *values: Any) -> None:
        with self._lock:
            fmt.pack_into(self._open_view(), pos, *values)

    def read(self, pos: int, size: int) -> bytes:
        with self._lock:
            return bytes(self._open_view()[pos : pos + size])

    def zero(self, start: int, end: int) -> None:
        if end <= start:
            return
        with self._lock:
            self._open_view()
            if start < 0 or end > self._length:
                raise ValueError(f"range {start}-{end} outside a {self._length}-byte map")
            ctypes.memset(self._addr + start, 0, end - start)

    def close(self) -> None:
        with self._lock:
            view = self._view
            if view is None:
                return
            self._view = None
            view.release()
            if _munmap(self._addr, self._length) != 0:  # pragma: no cover - only EINVAL
                err = ctypes.get_errno()
                raise OSError(err, f"munmap failed: {os.strerror(err)}")

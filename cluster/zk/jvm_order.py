"""The iteration order of the JVM hash maps Kafka serializes, so our JSON matches byte for byte.

Kafka builds some znode JSON from hash maps: the partition maps of ``/brokers/topics/<t>``
come from a Scala ``mutable.HashMap`` (with 12 partitions Kafka writes "11" first) and a
broker's ``features`` from a Java ``HashMap``. Readers do not care about key order; operators
diffing ``zkCli.sh`` output against a Kafka cluster do, and it costs little to match.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def _to_int32(value: int) -> int:
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value & 0x80000000 else value


def java_string_hash(text: str) -> int:
    """``String.hashCode()`` (over UTF-16 code units), as a signed 32-bit int."""
    h = 0
    data = text.encode("utf-16-be")
    for i in range(0, len(data), 2):
        h = (31 * h + ((data[i] << 8) | data[i + 1])) & 0xFFFFFFFF
    return _to_int32(h)


def _spread(h: int) -> int:
    # Both Java's HashMap.hash() and Scala 2.13 mutable.HashMap.improveHash: h ^ (h >>> 16).
    u = h & 0xFFFFFFFF
    return _to_int32(u ^ (u >> 16))


def scala_mutable_hashmap_order(keys: Iterable[str]) -> list[str]:
    """Order of a Scala 2.13 ``mutable.HashMap[String, _]`` filled with ``keys`` in order.

    The table starts at 16 slots and doubles before an insert that would reach 3/4 full;
    iteration walks the slots in order, each slot's entries sorted by (signed) hash, equal
    hashes in insertion order.
    """
    items = list(dict.fromkeys(keys))
    size = 16
    while len(items) >= size * 3 // 4:
        size *= 2
    hashed = [(_spread(java_string_hash(k)), i, k) for i, k in enumerate(items)]
    hashed.sort(key=lambda t: (t[0] & (size - 1), t[0], t[1]))
    return [k for _, _, k in hashed]


def java_hashmap_order(keys: Iterable[str]) -> list[str]:
    """Order of a ``java.util.HashMap<String, _>`` filled with ``keys`` in order (default
    capacity 16, load factor 0.75; a slot's entries in insertion order)."""
    items = list(dict.fromkeys(keys))
    size = 16
    while len(items) > size * 3 // 4:
        size *= 2
    indexed = [(_spread(java_string_hash(k)) & (size - 1), i, k) for i, k in enumerate(items)]
    indexed.sort()
    return [k for _, _, k in indexed]


def java_properties_order(keys: Iterable[str]) -> list[str]:
    """Order of a ``java.util.Properties`` (a ``ConcurrentHashMap`` inside, JDK 9+) after
    ``setProperty`` of ``keys`` in order: Kafka serializes config entities from one.

    Simulates the table (16 slots for ``new Properties()``), tail insertion into a slot, and
    the resize at 3/4 full, whose split keeps the last run of a slot's list in order and
    prepends the nodes before it (ConcurrentHashMap.transfer).
    """
    items = list(dict.fromkeys(keys))
    size = 16
    table: list[list[tuple[int, str]]] = [[] for _ in range(size)]
    for count, key in enumerate(items, start=1):
        h = _spread(java_string_hash(key)) & 0x7FFFFFFF
        table[h & (size - 1)].append((h, key))
        if count >= size - (size >> 2):
            table = _chm_transfer(table, size)
            size *= 2
    return [key for slot in table for _, key in slot]


def _chm_transfer(table: list[list[tuple[int, str]]], n: int) -> list[list[tuple[int, str]]]:
    new: list[list[tuple[int, str]]] = [[] for _ in range(2 * n)]
    for i, slot in enumerate(table):
        if not slot:
            continue
        run_bit = slot[0][0] & n
        last_run = 0
        for j in range(1, len(slot)):
            bit = slot[j][0] & n
            if bit != run_bit:
                run_bit, last_run = bit, j
        low: list[tuple[int, str]] = []
        high: list[tuple[int, str]] = []
        if run_bit == 0:
            low = list(slot[last_run:])
        else:
            high = list(slot[last_run:])
        for node in slot[:last_run]:
            (low if node[0] & n == 0 else high).insert(0, node)
        new[i], new[i + n] = low, high
    return new


def _scala_improve(h: int) -> int:
    # scala.collection.Hashing.improve, which Scala 2.13's immutable HashSet (CHAMP) uses.
    h = _to_int32(h + ~_to_int32(h << 9))
    h = _to_int32(h ^ ((h & 0xFFFFFFFF) >> 14))
    h = _to_int32(h + _to_int32(h << 4))
    return _to_int32(h ^ ((h & 0xFFFFFFFF) >> 10))


def scala_immutable_set_order(keys: Iterable[str]) -> list[str]:
    """Order of a Scala 2.13 immutable ``Set[String]`` built from ``keys`` in order: up to
    four elements keep insertion order (Set1..Set4), more become a ``HashSet`` (a CHAMP trie:
    a node's own elements by 5-bit hash slot, then its sub-nodes by slot). Kafka prints such
    sets in error messages ("Cannot update these configs dynamically: Set(...)")."""
    items = list(dict.fromkeys(keys))
    if len(items) <= 4:
        return items
    root: dict[int, Any] = {}

    def insert(node: dict[int, Any], key: str, h: int, shift: int) -> None:
        slot = ((h & 0xFFFFFFFF) >> shift) & 31
        existing = node.get(slot)
        if existing is None:
            node[slot] = (key, h)
        elif isinstance(existing, dict):
            insert(existing, key, h, shift + 5)
        else:
            child: dict[int, Any] = {}
            insert(child, existing[0], existing[1], shift + 5)
            insert(child, key, h, shift + 5)
            node[slot] = child

    for key in items:
        insert(root, key, _scala_improve(java_string_hash(key)), 0)
    out: list[str] = []

    def walk(node: dict[int, Any]) -> None:
        slots = sorted(node)
        out.extend(node[s][0] for s in slots if not isinstance(node[s], dict))
        for s in slots:
            if isinstance(node[s], dict):
                walk(node[s])

    walk(root)
    return out

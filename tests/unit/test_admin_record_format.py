"""kcat format strings, key/value formats and the range assignor of ``josef consume``."""

from __future__ import annotations

import io

import pytest
from hypothesis import given
from hypothesis import strategies as st

from broker.admin.group_member import range_assign
from broker.admin.output import Progress
from broker.admin.record_format import (
    Delivered,
    FormatError,
    compile_format,
    decode_json,
    decode_text,
    encode_field,
)
from protocol.records import Record

REC = Delivered("t", 3, Record(42, 1700000000000, b"k", None, (("a", b"1"), ("b", None))))


def test_format_tokens_and_escapes() -> None:
    render = compile_format("%t/%p/%o %k(%K) %s(%S) [%h] %T %%\\t\\x41\\n")
    assert render(REC) == b"t/3/42 k(1) (-1) [a=1,b=NULL] 1700000000000 %\tA\n"
    assert compile_format("%R")(REC) == b"\xff\xff\xff\xff"
    for bad in ("%", "%z", "\\xZZ"):
        with pytest.raises(FormatError):
            compile_format(bad)


@pytest.mark.parametrize(
    ("text", "fmt", "data"),
    [("hi", "text", b"hi"), ('{"a":1}', "json", b'{"a":1}'), ("AAE=", "base64", b"\0\1"),
     ("00ff", "hex", b"\0\xff")],
)  # fmt: skip
def test_encode_field(text: str, fmt: str, data: bytes) -> None:
    assert encode_field(text, fmt, "value") == data


@pytest.mark.parametrize(("text", "fmt"), [("{", "json"), ("***", "base64"), ("0g", "hex")])
def test_encode_field_refuses_bad_input(text: str, fmt: str) -> None:
    with pytest.raises(FormatError, match=f"not valid {fmt if fmt != 'json' else 'JSON'}"):
        encode_field(text, fmt, "value")


@given(st.binary(max_size=64), st.sampled_from(["base64", "hex"]))
def test_binary_formats_round_trip(data: bytes, fmt: str) -> None:
    text = decode_text(data, fmt)
    assert text is not None and encode_field(text, fmt, "value") == data


def test_decode_json_embeds_or_falls_back() -> None:
    assert decode_json(b'{"a": [1]}', "json") == {"a": [1]}
    assert decode_json(b"not json", "json") == "not json"
    assert decode_text(b'{"a": [1]}', "json") == '{"a":[1]}'
    assert decode_json(None, "json") is None


@given(
    st.dictionaries(
        st.text("abcdef", min_size=1, max_size=4),
        st.sets(st.sampled_from(["t1", "t2", "t3"]), max_size=3),
        min_size=1,
        max_size=5,
    ),
    st.dictionaries(st.sampled_from(["t1", "t2", "t3"]), st.integers(0, 9)),
)
def test_range_assign_matches_kafka_python(
    members: dict[str, set[str]], counts: dict[str, int]
) -> None:
    from types import SimpleNamespace

    from kafka.coordinator.assignors.range import (  # type: ignore[import-untyped]
        RangePartitionAssignor,
    )

    class _Cluster:
        def partitions_for_topic(self, topic: str) -> set[int] | None:
            n = counts.get(topic, 0)
            return set(range(n)) if n else None

    subscribers = [
        SimpleNamespace(
            member_id=m, group_instance_id=None, metadata=SimpleNamespace(topics=sorted(ts))
        )
        for m, ts in members.items()
    ]
    theirs = RangePartitionAssignor.assign(_Cluster(), subscribers)
    mine = range_assign(members, counts)
    for member in members:
        expected = {t: sorted(ps) for t, ps in theirs[member].assignment if ps}
        assert mine[member] == expected


class _Stream(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


def test_progress_only_on_a_terminal() -> None:
    quiet = _Stream(tty=False)
    p = Progress("Consumed", 10, quiet)
    p.update(3)
    p.finish()
    assert quiet.getvalue() == ""
    tty = _Stream(tty=True)
    p = Progress("Consumed", 10, tty)
    p.update(3)
    p.update(4)
    p.finish()
    assert tty.getvalue() == "\rConsumed: 3/10\x1b[K\rConsumed: 4/10\x1b[K\r\x1b[K"

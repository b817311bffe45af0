"""The web console's pure helpers: escaping of untrusted names and payloads, the value
formats (text, JSON, hex), timestamps, sizes, sparklines, the loopback rule for
destructive actions, throughput samples and the create-topic config parser."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from broker.config.http_listeners import HttpEndpoint
from broker.http.console import html
from broker.http.console.actions import _parse_configs
from broker.http.console.app import ConsoleError, Throughput, loopback_only
from broker.http.console.html import Markup, esc, format_value

HOSTILE = '<script>alert("x")</script>&\'"'


def test_esc_escapes_markup_and_quotes() -> None:
    assert esc(HOSTILE) == (
        "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#x27;&quot;"
    )
    assert esc(None) == ""
    assert esc(42) == "42"
    # console-made markup is not escaped twice
    assert esc(Markup("<b>ok</b>")) == "<b>ok</b>"


@given(st.text())
def test_table_cells_never_carry_raw_markup(text: str) -> None:
    out = html.table(("h",), [(text,)])
    inner = out.split("<td>", 1)[1].rsplit("</td>", 1)[0]
    assert "<" not in inner and ">" not in inner
    assert inner == esc(text)


def test_page_escapes_title_and_cluster_id() -> None:
    page = html.page(HOSTILE, Markup("<p>body</p>"), cluster_id=HOSTILE)
    assert "<script>" not in page
    assert "<p>body</p>" in page
    assert page.count("&lt;script&gt;") == 3  # <title>, <h1>, the cluster id


def test_link_escapes_href_and_text() -> None:
    out = html.link('/x?a=1&b="2"', "<t>")
    assert out == '<a href="/x?a=1&amp;b=&quot;2&quot;">&lt;t&gt;</a>'


def test_topic_and_group_urls_quote_names() -> None:
    assert html.topic_url("a.b_c-1") == "/topics/a.b_c-1"
    assert html.topic_url("a.b", "/messages") == "/topics/a.b/messages"
    assert html.group_url("g/1 &x") == "/group?id=g%2F1+%26x"
    assert html.url("/p", a=1, b=None) == "/p?a=1"


def test_error_box_escapes_message() -> None:
    box = html.error_box("TOPIC_ALREADY_EXISTS", "Topic '<x>' already exists.")
    assert "TOPIC_ALREADY_EXISTS" in box
    assert "&lt;x&gt;" in box and "<x>" not in box


# --------------------------------------------------------------------------- values


def test_format_text_replaces_bad_utf8() -> None:
    assert format_value(b"caf\xc3\xa9", "text") == "café"
    assert format_value(b"a\xffb", "text") == "a\ufffdb"
    assert format_value(None, "text") == "null"
    assert format_value(b"", "text") == ""
    # control characters (NUL is not even allowed in HTML) are shown, tab and newline kept
    assert format_value(b"\x00a\tb\nc\x1b\x7f", "text") == "\\x00a\tb\nc\\x1b\\x7f"


def test_format_json_pretty_prints_and_falls_back_to_text() -> None:
    assert format_value(b'{"a":[1,2],"b":"\xc3\xa9"}', "json") == (
        '{\n  "a": [\n    1,\n    2\n  ],\n  "b": "é"\n}'
    )
    assert format_value(b"not json {", "json") == "not json {"
    assert format_value(None, "json") == "null"


def test_format_hex_groups_sixteen_bytes_a_line() -> None:
    assert format_value(b"\x00\x01\xff", "hex") == "00 01 ff"
    data = bytes(range(20))
    assert format_value(data, "hex") == (
        "00 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f\n10 11 12 13"
    )


@given(st.binary(max_size=200))
def test_format_hex_round_trips(data: bytes) -> None:
    text = format_value(data, "hex")
    assert bytes.fromhex(text.replace("\n", " ")) == data


@given(st.dictionaries(st.text(max_size=10), st.integers() | st.text(max_size=10), max_size=5))
def test_format_json_round_trips(doc: dict[str, object]) -> None:
    raw = json.dumps(doc).encode()
    assert json.loads(format_value(raw, "json")) == doc


def test_format_timestamp_and_bytes() -> None:
    assert html.format_timestamp(0) == "1970-01-01T00:00:00.000Z"
    assert html.format_timestamp(1_700_000_000_123) == "2023-11-14T22:13:20.123Z"
    assert html.format_timestamp(-1) == "-"
    assert html.format_bytes(512) == "512 B"
    assert html.format_bytes(1536) == "1.5 KiB"
    assert html.format_bytes(3 * 1024 * 1024) == "3.0 MiB"
    assert html.format_bytes(-1) == "-"


def test_sparkline_is_inline_svg() -> None:
    empty = html.sparkline([])
    assert empty.startswith("<svg") and "polyline" not in empty
    line = html.sparkline([0.0, 5.0, 10.0], width=100, height=20)
    assert 'points="0.0,19.0 50.0,10.0 100.0,1.0"' in line
    assert "10.0 records/s" in line


# --------------------------------------------------------------------------- rules


@pytest.mark.parametrize(
    ("hosts", "expected"),
    [
        (["127.0.0.1"], True),
        (["localhost", "::1", "127.0.0.2"], True),
        (["0.0.0.0"], False),
        ([""], False),  # all interfaces
        (["127.0.0.1", "10.0.0.5"], False),
        (["::"], False),
        (["example.com"], False),
    ],
)
def test_loopback_only(hosts: list[str], expected: bool) -> None:
    assert loopback_only([HttpEndpoint(h, 9644) for h in hosts]) is expected


def test_throughput_rates_between_samples() -> None:
    t = Throughput()
    t.add({"a": 0, "b": 10}, now=100.0)
    t.add({"a": 50, "b": 10}, now=100.5)  # too soon: ignored
    t.add({"a": 100, "b": 10}, now=102.0)
    t.add({"a": 400}, now=104.0)  # b deleted
    assert t.rates("a") == [50.0, 150.0]
    assert t.rates("b") == []


def test_parse_configs() -> None:
    assert _parse_configs("cleanup.policy=compact\n\n retention.ms = 1000 \n") == [
        ("cleanup.policy", "compact"),
        ("retention.ms", "1000"),
    ]
    with pytest.raises(ConsoleError) as info:
        _parse_configs("novalue")
    assert info.value.name == "INVALID_CONFIG"

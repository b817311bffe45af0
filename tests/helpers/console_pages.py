"""Reading the web console over HTTP in tests: requests without redirects, the tables of a
page as text cells, the CSRF token of its forms, and the error box."""

from __future__ import annotations

import html.parser
import http.client
import re
import urllib.parse
from dataclasses import dataclass

GUARD_S = 60.0  # a guard against a hung broker, not a measurement


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str]
    body: str


def request(
    base: str,
    path: str,
    *,
    method: str = "GET",
    form: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> Reply:
    """One HTTP request (redirects are returned, not followed)."""
    url = urllib.parse.urlsplit(base)
    conn = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=GUARD_S)
    try:
        body = None
        hdrs = dict(headers or {})
        if form is not None:
            body = urllib.parse.urlencode(form)
            hdrs["Content-Type"] = "application/x-www-form-urlencoded"
        conn.request(method, path, body=body, headers=hdrs)
        resp = conn.getresponse()
        text = resp.read().decode("utf-8")
        return Reply(resp.status, {k.lower(): v for k, v in resp.getheaders()}, text)
    finally:
        conn.close()


def get(base: str, path: str) -> Reply:
    return request(base, path)


def post(base: str, path: str, form: dict[str, str], **kw: dict[str, str]) -> Reply:
    return request(base, path, method="POST", form=form, **kw)


class _Tables(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tables: dict[str, list[list[str]]] = {}
        self._table: str | None = None
        self._row: list[str] | None = None
        self._cell: list[str] | None = None
        self._in_head = False
        self._placeholder = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self._table = dict(attrs).get("id") or f"table{len(self.tables)}"
            self.tables[self._table] = []
        elif tag == "thead":
            self._in_head = True
        elif tag == "tr" and self._table is not None and not self._in_head:
            self._row = []
            self._placeholder = False
        elif tag == "td" and self._row is not None:
            self._cell = []
            if dict(attrs).get("class") == "empty":
                self._placeholder = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "thead":
            self._in_head = False
        elif tag == "td" and self._row is not None and self._cell is not None:
            self._row.append("".join(self._cell))
            self._cell = None
        elif tag == "tr" and self._row is not None and self._table is not None:
            if not self._placeholder:
                self.tables[self._table].append(self._row)
            self._row = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def tables(page: str) -> dict[str, list[list[str]]]:
    """{table id: rows of cell texts} (header rows and "empty" placeholder rows left out)."""
    parser = _Tables()
    parser.feed(page)
    return parser.tables


def table(page: str, table_id: str) -> list[list[str]]:
    found = tables(page)
    assert table_id in found, f"no table #{table_id} in page:\n{page[:2000]}"
    return found[table_id]


def csrf(page: str) -> str:
    match = re.search(r'name="csrf" value="([0-9a-f]+)"', page)
    assert match is not None, "no CSRF token in the page"
    return match.group(1)


def error(page: str) -> tuple[str, str] | None:
    """(error name, message) of the page's error box, unescaped."""
    match = re.search(
        r'<strong class="error-name">(.*?)</strong>.*?<span class="error-message">(.*?)</span>',
        page,
        re.S,
    )
    if match is None:
        return None
    return html.unescape(match.group(1)), html.unescape(match.group(2))


def definitions(page: str) -> dict[str, str]:
    return {
        html.unescape(k): html.unescape(v)
        for k, v in re.findall(r"<dt>(.*?)</dt><dd>(.*?)</dd>", page, re.S)
    }

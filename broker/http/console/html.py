"""Pure HTML helpers of the web console: escaping, tables, value formats, sparklines.

Everything a page shows from the cluster (topic names, group ids, keys, values, headers,
config values, error messages) is untrusted: it only reaches the page through ``esc`` or
the helpers here, which escape it. Markup built by the console itself is wrapped in
``Markup`` so that it is not escaped twice.
"""

from __future__ import annotations

import datetime
import html
import json
from collections.abc import Iterable, Sequence
from typing import Final
from urllib.parse import quote, urlencode

VALUE_FORMATS: Final = ("text", "json", "hex")
STATIC_PREFIX: Final = "/console/static"


class Markup(str):
    """HTML made by the console (already escaped where it embeds data)."""

    __slots__ = ()


Cell = str | int | float | None | Markup


def esc(value: Cell) -> Markup:
    """Escape anything for an HTML text node or a double-quoted attribute."""
    if isinstance(value, Markup):
        return value
    if value is None:
        return Markup("")
    return Markup(html.escape(str(value), quote=True))


def join(parts: Iterable[Cell]) -> Markup:
    return Markup("".join(esc(p) for p in parts))


def link(href: str, text: Cell, **attrs: str) -> Markup:
    extra = "".join(f' {k.rstrip("_")}="{esc(v)}"' for k, v in attrs.items())
    return Markup(f'<a href="{esc(href)}"{extra}>{esc(text)}</a>')


def url(path: str, **params: str | int | None) -> str:
    """``path`` plus a query string of the params that are not None."""
    query = {k: str(v) for k, v in params.items() if v is not None}
    return path + ("?" + urlencode(query) if query else "")


def topic_url(topic: str, suffix: str = "") -> str:
    return f"/topics/{quote(topic, safe='')}{suffix}"


def group_url(group: str) -> str:
    return url("/group", id=group)


def table(
    headers: Sequence[str],
    rows: Iterable[Sequence[Cell]],
    *,
    table_id: str | None = None,
    empty: str = "none",
) -> Markup:
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = [
        "<tr>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>" for row in rows
    ]
    if not body:
        body = [f'<tr><td colspan="{len(headers)}" class="empty">{esc(empty)}</td></tr>']
    ident = f' id="{esc(table_id)}"' if table_id else ""
    return Markup(
        f"<table{ident}><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    )


def definition_list(items: Iterable[tuple[str, Cell]]) -> Markup:
    body = "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in items)
    return Markup(f"<dl>{body}</dl>")


def hidden(name: str, value: Cell) -> Markup:
    return Markup(f'<input type="hidden" name="{esc(name)}" value="{esc(value)}">')


def error_box(name: str, message: str) -> Markup:
    return Markup(
        f'<div class="error" role="alert"><strong class="error-name">{esc(name)}</strong>'
        f'{": " if message else ""}<span class="error-message">{esc(message)}</span></div>'
    )


NAV: Final = (("/", "Cluster"), ("/topics", "Topics"), ("/groups", "Consumer groups"))


def page(
    title: str,
    body: Markup,
    *,
    active: str = "",
    refresh_s: int | None = None,
    cluster_id: str | None = None,
) -> str:
    """A whole page: header, navigation, the body. ``refresh_s`` makes console.js reload
    the ``#live`` part of the page every so many seconds (nothing happens without JS)."""
    nav = "".join(
        f'<a href="{href}"{" class=active" if href == active else ""}>{esc(text)}</a>'
        for href, text in NAV
    )
    refresh = f' data-refresh="{int(refresh_s)}"' if refresh_s else ""
    cluster = f'<span class="cluster-id">cluster {esc(cluster_id)}</span>' if cluster_id else ""
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)} · Josef</title>"
        f'<link rel="stylesheet" href="{STATIC_PREFIX}/console.css">'
        f'<script src="{STATIC_PREFIX}/console.js" defer></script>'
        f"</head><body{refresh}>"
        f'<header><span class="brand">Josef</span><nav>{nav}</nav>{cluster}</header>'
        f"<main><h1>{esc(title)}</h1>{body}</main></body></html>"
    )


# --------------------------------------------------------------------------- values


_CONTROL: Final = {c: f"\\x{c:02x}" for c in (*range(0x20), 0x7F) if c not in (0x09, 0x0A)}


def format_value(data: bytes | None, fmt: str) -> str:
    """A key or value as text (UTF-8, bad bytes replaced, control characters but tab and
    newline shown as ``\\xNN``), pretty JSON (text when it is not JSON) or hex (bytes in
    pairs, 16 per line). The result is plain text: escape it."""
    if data is None:
        return "null"
    if fmt == "hex":
        lines = [data[i : i + 16].hex(" ") for i in range(0, len(data), 16)]
        return "\n".join(lines)
    text = data.decode("utf-8", "replace")
    if fmt == "json":
        try:
            pretty = json.dumps(json.loads(text), indent=2, ensure_ascii=False)
        except ValueError:
            pass
        else:  # dumps escapes C0 controls itself; DEL is the one left, as a JSON escape
            return pretty.replace("\x7f", "\\u007f")
    return text.translate(_CONTROL)


def format_timestamp(ms: int) -> str:
    """Epoch milliseconds as ISO-8601 UTC (``-1`` is no timestamp)."""
    if ms < 0:
        return "-"
    try:
        when = datetime.datetime.fromtimestamp(ms / 1000, datetime.UTC)
    except (OverflowError, OSError, ValueError):
        return str(ms)
    return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def format_bytes(size: int | None) -> str:
    if size is None or size < 0:
        return "-"
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"  # pragma: no cover - loop always returns


def sparkline(values: Sequence[float], width: int = 120, height: int = 24) -> Markup:
    """An inline SVG polyline of ``values`` (e.g. records/s between samples)."""
    if not values:
        return Markup(f'<svg class="spark" width="{width}" height="{height}"></svg>')
    top = max(max(values), 1e-9)
    step = width / max(len(values) - 1, 1)
    points = " ".join(
        f"{i * step:.1f},{height - 1 - (v / top) * (height - 2):.1f}" for i, v in enumerate(values)
    )
    label = f"{values[-1]:.1f} records/s"
    return Markup(
        f'<svg class="spark" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="{esc(label)}"><title>{esc(label)}</title>'
        f'<polyline fill="none" stroke="currentColor" stroke-width="1.5" points="{points}"/>'
        "</svg>"
    )

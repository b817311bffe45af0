"""The console's read-only pages: the cluster, topics, a topic and its messages.

Server-rendered HTML that works with JavaScript off; the topics page carries
``data-refresh`` so console.js reloads its ``#live`` part (throughput sparklines).
"""

from __future__ import annotations

import datetime
from importlib import metadata
from typing import Any, Final

from aiohttp import web

from broker.admin.topics import CONFIG_SOURCES
from broker.http.console import html
from broker.http.console.app import Console, ConsoleError
from broker.http.console.data import (
    ClusterView,
    RecordsView,
    TopicRow,
    TopicView,
    cluster_view,
    read_records,
    topic_rows,
    topic_view,
)
from broker.http.console.html import Markup, esc, join, link, table

TOPICS_REFRESH_S: Final = 5
DEFAULT_COUNT: Final = 20


def josef_version() -> str:
    try:
        return metadata.version("josef")
    except metadata.PackageNotFoundError:
        return "unknown"


def configs_table(configs: Any, table_id: str) -> Markup:
    rows = []
    for c in configs:
        value = "(sensitive)" if c["sensitive"] else ("null" if c["value"] is None else c["value"])
        rows.append(
            (
                c["name"],
                Markup(f'<code class="config-value">{esc(value)}</code>'),
                CONFIG_SOURCES.get(c["source"], str(c["source"])),
                "yes" if c["read_only"] else "no",
            )
        )
    return table(("Name", "Value", "Source", "Read-only"), rows, table_id=table_id)


def int_param(request: web.Request, name: str) -> int | None:
    raw = request.query.get(name, "").strip()
    if not raw:
        return None
    try:
        return int(raw)
    except ValueError:
        raise ConsoleError("INVALID_REQUEST", f"{name} must be a number, not {raw!r}") from None


class Pages:
    """Handlers of the cluster and topic pages."""

    def __init__(self, console: Console) -> None:
        self.console = console

    def install(self, app: web.Application) -> None:
        app.router.add_get("/", self.cluster)
        app.router.add_get("/topics", self.topics)
        app.router.add_get("/topics/{topic}", self.topic)
        app.router.add_get("/topics/{topic}/messages", self.messages)
        app.router.add_get("/api/topics", self.topics_json)

    # ---- cluster

    async def cluster(self, request: web.Request) -> web.Response:
        try:
            broker = int_param(request, "broker")
            view = await self.console.call(request, lambda c: cluster_view(c, broker))
        except ConsoleError as exc:
            return self.console.error_page("Cluster", exc, "/")
        self.console.cluster_id = view.cluster_id
        return self.console.render("Cluster", self._cluster_body(view), active="/")

    def _cluster_body(self, view: ClusterView) -> Markup:
        summary = html.definition_list(
            [
                ("Cluster id", view.cluster_id or "-"),
                ("Controller", view.controller_id),
                ("Brokers", len(view.brokers)),
                ("Console version", f"Josef {josef_version()}"),
            ]
        )
        brokers = table(
            ("Id", "Host:port", "Rack", "Protocol", "Role"),
            [
                (
                    link(html.url("/", broker=b.node.node_id), b.node.node_id),
                    f"{b.node.host}:{b.node.port}",
                    b.node.rack or "-",
                    b.protocol,
                    "controller" if b.node.node_id == view.controller_id else "",
                )
                for b in view.brokers
            ],
            table_id="brokers",
        )
        configs = (
            html.error_box(*view.configs_error)
            if view.configs_error
            else configs_table(view.configs, "broker-configs")
        )
        return join(
            [
                summary,
                Markup("<h2>Brokers</h2>"),
                brokers,
                Markup(f"<h2>Configs of broker {esc(view.config_broker)}</h2>"),
                configs,
            ]
        )

    # ---- topics

    async def _topic_rows(self, request: web.Request) -> list[TopicRow]:
        rows = await self.console.call(request, topic_rows)
        # a user's view holds the topics their ACLs let them describe, not every topic
        complete = not self.console.identity.per_user
        self.console.throughput.add({r.name: r.end_offsets for r in rows}, complete=complete)
        return rows

    async def topics(self, request: web.Request) -> web.Response:
        try:
            rows = await self._topic_rows(request)
        except ConsoleError as exc:
            return self.console.error_page("Topics", exc, "/topics")
        notice = request.query.get("notice")
        body = [
            Markup(f'<p class="notice">{esc(notice)}</p>') if notice else Markup(""),
            Markup('<p><a class="button" href="/topics/new">Create topic</a></p>'),
            Markup('<div id="live">'),
            table(
                ("Topic", "Partitions", "Replication factor", "Under-replicated", "Size",
                 "Throughput"),
                [self._topic_row(r) for r in rows],
                table_id="topics",
                empty="no topics",
            ),
            Markup("</div>"),
        ]
        return self.console.render(
            "Topics", join(body), active="/topics", refresh_s=TOPICS_REFRESH_S
        )

    def _topic_row(self, r: TopicRow) -> tuple[html.Cell, ...]:
        rates = self.console.throughput.rates(r.name)
        rate = f"{rates[-1]:.1f}/s" if rates else "-"
        name = join([link(html.topic_url(r.name), r.name), " (internal)" if r.internal else ""])
        spark = join([html.sparkline(rates), Markup(f' <span class="rate">{esc(rate)}</span>')])
        return (
            name, r.partitions, r.replication_factor, r.under_replicated,
            html.format_bytes(r.size), spark,
        )

    async def topics_json(self, request: web.Request) -> web.Response:
        try:
            rows = await self._topic_rows(request)
        except ConsoleError as exc:
            return web.json_response({"error": exc.name, "message": exc.message}, status=exc.status)
        return web.json_response(
            [
                {
                    "name": r.name,
                    "partitions": r.partitions,
                    "replication_factor": r.replication_factor,
                    "under_replicated": r.under_replicated,
                    "size": r.size,
                    "end_offsets": r.end_offsets,
                    "records_per_s": self.console.throughput.rates(r.name),
                }
                for r in rows
            ]
        )

    async def topic(self, request: web.Request) -> web.Response:
        name = request.match_info["topic"]
        try:
            view = await self.console.call(request, lambda c: topic_view(c, name))
        except ConsoleError as exc:
            return self.console.error_page(f"Topic {name}", exc, "/topics")
        body = self._topic_body(request, view)
        return self.console.render(f"Topic {name}", body, active="/topics")

    def _topic_body(self, request: web.Request, view: TopicView) -> Markup:
        csrf = self.console.csrf_field(request)
        summary = html.definition_list(
            [
                ("Topic id", view.topic_id or "-"),
                ("Internal", "yes" if view.internal else "no"),
                ("Partitions", len(view.partitions)),
            ]
        )
        parts = table(
            ("Partition", "Leader", "Replicas", "ISR", "Log start offset", "Log end offset",
             "Size"),
            [
                (
                    p.info.partition,
                    p.info.leader if p.info.leader >= 0 else "none",
                    ",".join(map(str, p.info.replicas)),
                    ",".join(map(str, p.info.isr)),
                    p.start_offset,
                    p.end_offset,
                    html.format_bytes(p.size),
                )
                for p in view.partitions
            ],
            table_id="partitions",
        )
        url = html.topic_url(view.name)
        forms = Markup(
            f'<h2>Alter config</h2><form method="post" action="{esc(url)}/config" '
            f'class="inline">{csrf}'
            '<label>Name <input name="key" required></label> '
            '<label>Value <input name="value"></label> '
            '<label><input type="checkbox" name="remove" value="1"> remove override</label> '
            '<button type="submit">Alter config…</button></form>'
            f'<h2>Delete</h2><form method="post" action="{esc(url)}/delete">{csrf}'
            '<button type="submit" class="danger">Delete topic…</button></form>'
        )
        return join(
            [
                summary,
                Markup(f'<p>{link(url + "/messages", "Browse messages")}</p>'),
                Markup("<h2>Partitions</h2>"),
                parts,
                Markup("<h2>Configs</h2>"),
                html.error_box(*view.configs_error)
                if view.configs_error
                else configs_table(view.configs, "topic-configs"),
                forms,
            ]
        )

    # ---- messages

    async def messages(self, request: web.Request) -> web.Response:
        name = request.match_info["topic"]
        title = f"Messages of {name}"
        fmt = request.query.get("format", "text")
        if fmt not in html.VALUE_FORMATS:
            fmt = "text"
        try:
            partition = int_param(request, "partition") or 0
            offset = int_param(request, "offset")
            count = int_param(request, "count") or DEFAULT_COUNT
            when = request.query.get("timestamp", "").strip()
            timestamp = _parse_timestamp(when) if when else None
            view = await self.console.call(
                request,
                lambda c: read_records(
                    c, name, partition, offset=offset, timestamp=timestamp, count=count
                )
            )
        except ConsoleError as exc:
            return self.console.error_page(title, exc, "/topics")
        form = _messages_form(request, partition, count, fmt)
        nav = [link(html.topic_url(name), f"Topic {name}")]
        if view.records:
            after = view.records[-1].offset + 1
            if after < view.log_end:
                nav.append(Markup(" · "))
                nav.append(link(
                    html.url(html.topic_url(name, "/messages"), partition=partition,
                             offset=after, count=count, format=fmt),
                    f"Next {count} from offset {after}", id="next",
                ))
        body = join([Markup("<p>"), join(nav), Markup("</p>"), form, _records_body(view, fmt)])
        return self.console.render(title, body, active="/topics")

def _parse_timestamp(text: str) -> int:
    """Epoch milliseconds, or an ISO-8601 date-time (UTC unless it names a zone)."""
    if text.lstrip("-").isdigit():
        return int(text)
    try:
        when = datetime.datetime.fromisoformat(text)
    except ValueError:
        raise ConsoleError(
            "INVALID_REQUEST", f"timestamp {text!r} is neither epoch ms nor ISO-8601"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.UTC)
    return int(when.timestamp() * 1000)


def _messages_form(request: web.Request, partition: int, count: int, fmt: str) -> Markup:
    options = "".join(
        f'<option value="{f}"{" selected" if f == fmt else ""}>{f}</option>'
        for f in html.VALUE_FORMATS
    )
    q = request.query
    return Markup(
        '<form method="get" class="inline" id="browse">'
        f'<label>Partition <input name="partition" type="number" min="0" value="{partition}">'
        "</label> "
        f'<label>Offset <input name="offset" value="{esc(q.get("offset", ""))}"></label> '
        f'<label>or timestamp <input name="timestamp" placeholder="ms or 2026-01-31T12:00:00Z" '
        f'value="{esc(q.get("timestamp", ""))}"></label> '
        f'<label>Records <input name="count" type="number" min="1" max="500" value="{count}">'
        "</label> "
        f'<label>Format <select name="format">{options}</select></label> '
        '<button type="submit">Show</button></form>'
    )


def _records_body(view: RecordsView, fmt: str) -> Markup:
    info = Markup(
        f'<p class="range">Partition {view.partition}: log start offset {view.log_start}, '
        f"log end offset {view.log_end}; "
        + (
            f"reading from offset {view.start_offset}."
            if view.start_offset >= 0
            else "no record at or after that timestamp."
        )
        + "</p>"
    )
    rows = []
    for r in view.records:
        headers = "\n".join(
            f"{k}: {html.format_value(v, fmt)}" for k, v in r.headers
        )
        rows.append(
            (
                r.offset,
                html.format_timestamp(r.timestamp),
                Markup(f"<pre class='key'>{esc(html.format_value(r.key, fmt))}</pre>"),
                Markup(f"<pre class='value'>{esc(html.format_value(r.value, fmt))}</pre>"),
                Markup(f"<pre class='headers'>{esc(headers)}</pre>"),
            )
        )
    return join(
        [
            info,
            table(("Offset", "Timestamp", "Key", "Value", "Headers"), rows,
                  table_id="records", empty="no records"),
        ]
    )


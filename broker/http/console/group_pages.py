"""The console's consumer group pages: every group with its lag, and one group's members,
committed offsets, log end offsets and lag per partition (refreshed by console.js)."""

from __future__ import annotations

from typing import Any, Final

from aiohttp import web

from broker.http.console import html
from broker.http.console.actions import reset_form
from broker.http.console.app import Console, ConsoleError
from broker.http.console.data import GroupView, group_rows, group_view
from broker.http.console.html import Markup, esc, join, link, table

GROUP_REFRESH_S: Final = 5


class GroupPages:
    """Handlers of the consumer group pages."""

    def __init__(self, console: Console) -> None:
        self.console = console

    def install(self, app: web.Application) -> None:
        app.router.add_get("/groups", self.groups)
        app.router.add_get("/group", self.group)
        app.router.add_get("/api/group", self.group_json)

    async def groups(self, request: web.Request) -> web.Response:
        try:
            rows = await self.console.call(request, group_rows)
        except ConsoleError as exc:
            return self.console.error_page("Consumer groups", exc, "/groups")
        body = table(
            ("Group", "State", "Protocol type", "Protocol", "Members", "Coordinator", "Lag"),
            [
                (
                    link(html.group_url(d.group_id), d.group_id),
                    d.state, d.protocol_type or "-", d.protocol or "-",
                    len(d.members), d.coordinator, lag,
                )
                for d, lag in rows
            ],
            table_id="groups",
            empty="no consumer groups",
        )
        return self.console.render(
            "Consumer groups",
            join([Markup('<div id="live">'), body, Markup("</div>")]),
            active="/groups",
            refresh_s=GROUP_REFRESH_S,
        )

    async def _group(self, request: web.Request) -> GroupView:
        group = request.query.get("id")
        if group is None:
            raise ConsoleError("INVALID_REQUEST", "which group? (?id=GROUP)")
        return await self.console.call(request, lambda c: group_view(c, group))

    async def group(self, request: web.Request) -> web.Response:
        try:
            view = await self._group(request)
        except ConsoleError as exc:
            return self.console.error_page("Consumer group", exc, "/groups")
        d = view.description
        notice = request.query.get("notice")
        body = join(
            [
                Markup(f'<p class="notice">{esc(notice)}</p>') if notice else Markup(""),
                Markup('<div id="live">'),
                html.definition_list(
                    [
                        ("State", d.state), ("Protocol type", d.protocol_type or "-"),
                        ("Protocol", d.protocol or "-"), ("Coordinator", d.coordinator),
                        ("Members", len(d.members)), ("Total lag", view.total_lag),
                    ]
                ),
                Markup("<h2>Members</h2>"),
                table(
                    ("Member id", "Instance id", "Client id", "Host", "Assignment"),
                    [
                        (m.member_id, m.instance_id or "-", m.client_id, m.client_host_text,
                         ", ".join(f"{t}-{p}" for t, p in m.assignment) or "-")
                        for m in map(_MemberText, d.members)
                    ],
                    table_id="members",
                    empty="no members",
                ),
                Markup("<h2>Offsets and lag</h2>"),
                table(
                    ("Topic", "Partition", "Committed offset", "Log end offset", "Lag",
                     "Member"),
                    [
                        (r.topic, r.partition, _dash(r.committed), _dash(r.log_end),
                         _dash(r.lag), r.member.client_id if r.member else "-")
                        for r in view.offsets
                    ],
                    table_id="lag",
                    empty="no committed offsets",
                ),
                Markup("</div>"),
                reset_form(self.console, request, view),
            ]
        )
        return self.console.render(
            f"Consumer group {d.group_id}", body, active="/groups", refresh_s=GROUP_REFRESH_S
        )

    async def group_json(self, request: web.Request) -> web.Response:
        try:
            view = await self._group(request)
        except ConsoleError as exc:
            return web.json_response({"error": exc.name, "message": exc.message}, status=exc.status)
        d = view.description
        return web.json_response(
            {
                "group": d.group_id,
                "state": d.state,
                "members": len(d.members),
                "total_lag": view.total_lag,
                "partitions": [
                    {"topic": r.topic, "partition": r.partition, "committed": r.committed,
                     "log_end_offset": r.log_end, "lag": r.lag}
                    for r in view.offsets
                ],
            }
        )


class _MemberText:
    """A group member's columns, the host without the leading slash Kafka adds."""

    def __init__(self, member: Any) -> None:
        self.member_id = member.member_id
        self.instance_id = member.instance_id
        self.client_id = member.client_id
        self.client_host_text = str(member.host).lstrip("/")
        self.assignment = member.assignment


def _dash(value: int | None) -> str | int:
    return "-" if value is None else value

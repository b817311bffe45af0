"""The console's actions: create topic, delete topic, alter a topic config, reset offsets.

Every action is a POST form carrying the page's CSRF token (and, when the browser sends
one, a same-origin ``Origin``). Destructive actions (delete, alter config, reset offsets)
are refused with 403 unless destructive actions are allowed, and run only after a
confirmation step: the first post answers a confirmation page (for a reset, the planned
offsets), whose form posts again with ``confirm=yes``. No JavaScript needed.
"""

from __future__ import annotations

from typing import Final

from aiohttp import web

from broker.http.console import html
from broker.http.console.app import Console, ConsoleError, read_form
from broker.http.console.data import GroupView
from broker.http.console.html import Markup, esc, join, table
from broker.http.console.operations import (
    RESET_SCENARIOS,
    alter_topic_config,
    create_topic,
    delete_topic,
    plan_group_reset,
    reset_group,
)

CONFIRM: Final = "yes"


def _optional_int(form: dict[str, str], name: str) -> int | None:
    raw = form.get(name, "").strip()
    if not raw:
        return None
    try:
        return int(raw)
    except ValueError:
        raise ConsoleError("INVALID_REQUEST", f"{name} must be a number, not {raw!r}") from None


def _parse_configs(text: str) -> list[tuple[str, str]]:
    configs = []
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise ConsoleError("INVALID_CONFIG", f"config line {line!r} is not key=value")
        configs.append((key.strip(), value.strip()))
    return configs


def create_form(
    console: Console, request: web.Request, form: dict[str, str] | None = None
) -> Markup:
    form = form or {}
    return Markup(
        f'<form method="post" action="/topics" id="create-topic">{console.csrf_field(request)}'
        f'<label>Name <input name="name" required value="{esc(form.get("name", ""))}"></label>'
        '<label>Partitions <input name="partitions" type="number" min="1" '
        f'placeholder="broker default" value="{esc(form.get("partitions", ""))}"></label>'
        '<label>Replication factor <input name="replication_factor" type="number" min="1" '
        f'placeholder="broker default" value="{esc(form.get("replication_factor", ""))}">'
        "</label>"
        '<label>Configs (one key=value a line) <textarea name="configs" rows="4">'
        f'{esc(form.get("configs", ""))}</textarea></label>'
        '<button type="submit">Create topic</button></form>'
    )


def _confirm_form(
    console: Console,
    request: web.Request,
    action: str,
    fields: dict[str, str],
    button: str,
    cancel: str,
) -> Markup:
    hidden = "".join(html.hidden(k, v) for k, v in fields.items())
    return Markup(
        f'<form method="post" action="{esc(action)}" class="confirm">{console.csrf_field(request)}'
        f'{hidden}{html.hidden("confirm", CONFIRM)}'
        f'<button type="submit" class="danger" id="confirm">{esc(button)}</button> '
        f'<a href="{esc(cancel)}" class="cancel">Cancel</a></form>'
    )


def reset_form(console: Console, request: web.Request, view: GroupView) -> Markup:
    topics = sorted({r.topic for r in view.offsets})
    options = '<option value="">all committed topics</option>' + "".join(
        f'<option value="{esc(t)}">{esc(t)}</option>' for t in topics
    )
    scenarios = "".join(f'<option value="{s}">{s}</option>' for s in RESET_SCENARIOS)
    return Markup(
        "<h2>Reset offsets</h2><p>Only while the group is inactive (Empty).</p>"
        f'<form method="post" action="/group/reset" class="inline">{console.csrf_field(request)}'
        f"{html.hidden('id', view.description.group_id)}"
        f'<label>Topic <select name="topic">{options}</select></label> '
        f'<label>To <select name="scenario">{scenarios}</select></label> '
        '<label>Offset / timestamp <input name="value" placeholder="42 or 2026-01-31T12:00:00Z">'
        "</label> "
        '<button type="submit">Reset offsets…</button></form>'
    )


class Actions:
    """Handlers of the console's POST forms."""

    def __init__(self, console: Console) -> None:
        self.console = console

    def install(self, app: web.Application) -> None:
        app.router.add_get("/topics/new", self.new_topic)
        app.router.add_post("/topics", self.create)
        app.router.add_post("/topics/{topic}/delete", self.delete)
        app.router.add_post("/topics/{topic}/config", self.alter_config)
        app.router.add_post("/group/reset", self.reset)

    async def new_topic(self, request: web.Request) -> web.Response:
        return self.console.render(
            "Create topic", create_form(self.console, request), active="/topics"
        )

    async def create(self, request: web.Request) -> web.Response:
        form = await read_form(request)
        try:
            self.console.check_post(request, form)
            name = form.get("name", "").strip()
            if not name:
                raise ConsoleError("INVALID_TOPIC_EXCEPTION", "a topic needs a name")
            partitions = _optional_int(form, "partitions")
            replication = _optional_int(form, "replication_factor")
            configs = _parse_configs(form.get("configs", ""))
            await self.console.call(
                request, lambda c: create_topic(c, name, partitions, replication, configs)
            )
        except ConsoleError as exc:
            body = join(
                [html.error_box(exc.name, exc.message), create_form(self.console, request, form)]
            )
            return self.console.render(
                "Create topic", body, active="/topics", status=exc.status
            )
        raise web.HTTPSeeOther(html.topic_url(name))

    async def delete(self, request: web.Request) -> web.Response:
        name = request.match_info["topic"]
        title = f"Delete topic {name}"
        form = await read_form(request)
        try:
            self.console.check_post(request, form)
            self.console.check_destructive()
            if form.get("confirm") != CONFIRM:
                body = join(
                    [
                        Markup(
                            f'<p class="warning">Delete topic <strong>{esc(name)}</strong> and '
                            "every record in it? This cannot be undone.</p>"
                        ),
                        _confirm_form(
                            self.console, request, html.topic_url(name, "/delete"), {},
                            f"Delete topic {name}", html.topic_url(name),
                        ),
                    ]
                )
                return self.console.render(title, body, active="/topics")
            await self.console.call(request, lambda c: delete_topic(c, name))
        except ConsoleError as exc:
            return self.console.error_page(title, exc, "/topics")
        raise web.HTTPSeeOther(html.url("/topics", notice=f"Deleted topic {name}."))

    async def alter_config(self, request: web.Request) -> web.Response:
        name = request.match_info["topic"]
        title = f"Alter config of {name}"
        form = await read_form(request)
        try:
            self.console.check_post(request, form)
            self.console.check_destructive()
            key = form.get("key", "").strip()
            if not key:
                raise ConsoleError("INVALID_CONFIG", "which config? (name is empty)")
            value = None if form.get("remove") else form.get("value", "")
            if form.get("confirm") != CONFIRM:
                what = (
                    f"Remove the override of {key} on topic {name} (back to the default)?"
                    if value is None
                    else f"Set {key}={value} on topic {name}?"
                )
                fields = {"key": key, "value": value or ""}
                if value is None:
                    fields["remove"] = "1"
                body = join(
                    [
                        Markup(f'<p class="warning">{esc(what)}</p>'),
                        _confirm_form(
                            self.console, request, html.topic_url(name, "/config"), fields,
                            "Alter config", html.topic_url(name),
                        ),
                    ]
                )
                return self.console.render(title, body, active="/topics")
            await self.console.call(
                request, lambda c: alter_topic_config(c, name, key, value)
            )
        except ConsoleError as exc:
            return self.console.error_page(title, exc, "/topics")
        raise web.HTTPSeeOther(html.topic_url(name))

    async def reset(self, request: web.Request) -> web.Response:
        form = await read_form(request)
        group = form.get("id", "")
        title = f"Reset offsets of {group}"
        try:
            self.console.check_post(request, form)
            self.console.check_destructive()
            topic = form.get("topic", "").strip() or None
            scenario = form.get("scenario", "")
            if scenario not in RESET_SCENARIOS:
                raise ConsoleError("INVALID_REQUEST", f"unknown reset scenario {scenario!r}")
            value = form.get("value", "").strip() or None
            if scenario in ("offset", "timestamp") and value is None:
                raise ConsoleError("INVALID_REQUEST", f"reset to {scenario} needs a value")
            if scenario == "offset" and value is not None:
                _optional_int(form, "value")
            confirmed = form.get("confirm") == CONFIRM
            operation = reset_group if confirmed else plan_group_reset
            plan = await self.console.call(
                request, lambda c: operation(c, group, topic, scenario, value)
            )
        except ConsoleError as exc:
            return self.console.error_page(title, exc, "/groups")
        rows = table(
            ("Topic", "Partition", "New offset"),
            [(t, p, off) for (t, p), off in sorted(plan.items())],
            table_id="reset-plan",
            empty="no offsets to reset",
        )
        if confirmed:
            body = join(
                [
                    Markup(f'<p class="notice">Reset the offsets of {esc(group)}.</p>'),
                    rows,
                    Markup(f"<p>{html.link(html.group_url(group), 'Back to the group')}</p>"),
                ]
            )
            return self.console.render(title, body, active="/groups")
        fields = {"id": group, "topic": topic or "", "scenario": scenario, "value": value or ""}
        body = join(
            [
                Markup(
                    f'<p class="warning">Commit these offsets for group {esc(group)}?</p>'
                ),
                rows,
                _confirm_form(
                    self.console, request, "/group/reset", fields, "Reset offsets",
                    html.group_url(group),
                ),
            ]
        )
        return self.console.render(title, body, active="/groups")

"""The web console served by the HTTP listener at ``/``: cluster, topics, messages, groups.

``install(app, console)`` adds its routes to the listener's aiohttp application.
"""

from __future__ import annotations

from aiohttp import web

from broker.http.console.actions import Actions
from broker.http.console.app import Console, loopback_only, static
from broker.http.console.group_pages import GroupPages
from broker.http.console.pages import Pages

__all__ = ["Console", "install", "loopback_only"]


def install(app: web.Application, console: Console) -> None:
    # Actions first: the literal /topics/new must match before /topics/{topic}.
    Actions(console).install(app)
    Pages(console).install(app)
    GroupPages(console).install(app)
    app.router.add_get("/console/static/{name}", static)

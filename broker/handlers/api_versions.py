"""ApiVersions (key 18): what this broker serves, computed from the route table."""

from __future__ import annotations

import re
from typing import Any

from kio.schema.errors import ErrorCode

from broker.network.context import RequestContext
from broker.services import BrokerServices
from protocol.builders import NO_THROTTLE, ResponseBuilder

API_KEY = 18
MIN_VERSION, MAX_VERSION = 0, 4
_SOFTWARE = re.compile(r"^[a-zA-Z0-9](?:[a-zA-Z0-9\-.]*[a-zA-Z0-9])?$")


def register(services: BrokerServices) -> None:
    async def handle(ctx: RequestContext, request: Any) -> Any:
        rb = ResponseBuilder(API_KEY, ctx.api_version)
        error = ErrorCode.none
        if ctx.api_version >= 3 and not (
            _SOFTWARE.match(request.client_software_name or "")
            and _SOFTWARE.match(request.client_software_version or "")
        ):
            error = ErrorCode.invalid_request
        keys = tuple(
            rb(
                "ApiVersion",
                api_key=r.api_key,
                min_version=r.min_version,
                max_version=r.max_version,
            )
            for r in services.registry.routes()
        )
        return rb(None, error_code=error, api_keys=keys, throttle_time=NO_THROTTLE)

    services.registry.register(API_KEY, MIN_VERSION, MAX_VERSION, handle)

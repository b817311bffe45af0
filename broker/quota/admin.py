"""DescribeClientQuotas and AlterClientQuotas semantics (Kafka's ZkAdminManager).

Describe takes filter components (entity type plus EXACT name, DEFAULT entity or ANY
SPECIFIED entity of that type) and ``strict`` (only entities naming exactly the filtered
types); it answers every matching entity with its quota keys. Alter applies set/remove
operations per entity, each validated (known quota key for the entity type, integral
value for byte rates), and stores the entity's configs (a user's SCRAM credentials kept).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from broker.quota.entities import (
    CLIENT_ID,
    CONTROLLER_MUTATION_RATE,
    IP,
    QUOTA_KEYS,
    USER,
    EntityConfigSource,
    QuotaEntity,
    all_configs_of,
    entity_from_path,
    format_value,
    quota_configs,
)

MATCH_EXACT, MATCH_DEFAULT, MATCH_SPECIFIED = 0, 1, 2

INVALID_REQUEST = 42
UNSUPPORTED_VERSION = 35


class QuotaRequestError(Exception):
    def __init__(self, message: str, error_code: int = INVALID_REQUEST) -> None:
        super().__init__(message)
        self.error_code = error_code


@dataclass(frozen=True, slots=True)
class FilterComponent:
    entity_type: str
    match_type: int
    match: str | None


def describe(
    source: EntityConfigSource, components: Sequence[FilterComponent], strict: bool
) -> list[tuple[QuotaEntity, dict[str, float]]]:
    """Matching entities with their quota values; QuotaRequestError for a bad filter."""
    user_c: FilterComponent | None = None
    client_c: FilterComponent | None = None
    for c in components:
        if c.match_type not in (MATCH_EXACT, MATCH_DEFAULT, MATCH_SPECIFIED):
            raise QuotaRequestError(f"Unexpected match type: {c.match_type}")
        if c.match_type == MATCH_EXACT and c.match is None:
            raise QuotaRequestError(f"Missing match for exact {c.entity_type} filter component")
        if c.entity_type == USER:
            if user_c is not None:
                raise QuotaRequestError("Duplicate user filter component entity type")
            user_c = c
        elif c.entity_type == CLIENT_ID:
            if client_c is not None:
                raise QuotaRequestError("Duplicate client filter component entity type")
            client_c = c
        elif c.entity_type == IP:
            raise QuotaRequestError(
                "IP (connection rate) quotas are not supported by Josef", INVALID_REQUEST
            )
        elif c.entity_type == "":
            raise QuotaRequestError("Unexpected empty filter component entity type")
        else:
            raise QuotaRequestError(
                f"Custom entity type '{c.entity_type}' not supported", UNSUPPORTED_VERSION
            )

    def matches(c: FilterComponent | None, present: bool, name: str | None) -> bool:
        if c is None:
            return not present or not strict
        if not present:
            return False
        if c.match_type == MATCH_SPECIFIED:
            return True
        if c.match_type == MATCH_DEFAULT:
            return name is None
        return name == c.match

    out = []
    for path, configs in sorted(quota_configs(source).items()):
        entity = entity_from_path(path)
        if entity is None:
            continue
        if not matches(user_c, entity.has_user, entity.user):
            continue
        if not matches(client_c, entity.has_client, entity.client_id):
            continue
        values = {}
        for key, text in configs.items():
            try:
                values[key] = float(text)
            except ValueError:
                continue
        if values:
            out.append((entity, values))
    return out


@dataclass(frozen=True, slots=True)
class QuotaOp:
    key: str
    value: float | None  # None: remove


def parse_entity(entries: Sequence[tuple[str, str | None]]) -> QuotaEntity:
    """An entity from (type, name-or-None-for-default) pairs; QuotaRequestError if invalid."""
    if not entries:
        raise QuotaRequestError("Invalid empty client quota entity")
    by_type: dict[str, str | None] = {}
    for entity_type, name in entries:
        if entity_type not in (USER, CLIENT_ID, IP):
            raise QuotaRequestError(f"Unhandled client quota entity type: {entity_type}")
        if name is not None and name == "":
            raise QuotaRequestError(f"Empty {entity_type} not supported")
        by_type[entity_type] = name
    if IP in by_type:
        if len(by_type) > 1:
            raise QuotaRequestError(
                "Invalid quota entity combination, IP entity should not be used with "
                "user/client ID entity."
            )
        raise QuotaRequestError("IP (connection rate) quotas are not supported by Josef")
    return QuotaEntity(USER in by_type, by_type.get(USER), CLIENT_ID in by_type,
                       by_type.get(CLIENT_ID))


def apply_ops(current: dict[str, str], ops: Sequence[QuotaOp]) -> dict[str, str]:
    """Kafka's alterEntityQuotas over the entity's stored configs."""
    props = dict(current)
    epsilon = 1e-6
    for op in ops:
        if op.value is None:
            props.pop(op.key, None)
            continue
        is_long = QUOTA_KEYS.get(op.key)
        if is_long is None:
            raise QuotaRequestError(f"Invalid configuration key {op.key}")
        if op.key == CONTROLLER_MUTATION_RATE:
            # Accepting it would look like a limit that is not there (KIP-599 is not built).
            raise QuotaRequestError(
                f"{CONTROLLER_MUTATION_RATE} quotas are not supported by Josef yet"
            )
        value = op.value
        if is_long:
            as_int = int(value + epsilon) if value == value and abs(value) < 2**63 else None
            if as_int is None or abs(as_int - value) > epsilon:
                raise QuotaRequestError(f"Configuration {op.key} must be a LONG value")
            props[op.key] = str(as_int)
        else:
            if value != value:
                raise QuotaRequestError(f"Configuration {op.key} must be a DOUBLE value")
            props[op.key] = format_value(op.key, value)
    return props


async def alter(
    source: EntityConfigSource, entity: QuotaEntity, ops: Sequence[QuotaOp], validate_only: bool
) -> None:
    path = entity.path
    updated = apply_ops(all_configs_of(source, path), ops)
    if not validate_only:
        await source.set_entity_configs(path, updated)

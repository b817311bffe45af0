"""What the coordinator needs from any group type (classic, KIP-848 consumer)."""

from __future__ import annotations

from typing import Protocol

from kio.schema.errors import ErrorCode


class Group(Protocol):
    """A group held by :class:`broker.group.coordinator.GroupCoordinator`.

    ``group_type`` is ``"classic"`` or ``"consumer"`` (ListGroups v5 types filter);
    ``state_name`` is the state as ListGroups/DescribeGroups spell it.
    """

    group_id: str
    group_type: str

    @property
    def state_name(self) -> str: ...

    @property
    def protocol_type(self) -> str | None: ...

    def is_empty(self) -> bool: ...

    def is_subscribed_to(self, topic: str) -> bool: ...

    def validate_offset_commit(
        self, member_id: str, instance_id: str | None, generation_id: int
    ) -> ErrorCode: ...

    def validate_offset_fetch(self, member_id: str | None, member_epoch: int) -> ErrorCode: ...

    def validate_offset_delete(self) -> ErrorCode: ...

    def validate_delete(self) -> ErrorCode: ...

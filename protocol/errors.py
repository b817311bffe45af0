"""Kafka error codes (re-exported from kio) and the exceptions that carry them."""

from __future__ import annotations

from kio.schema.errors import ErrorCode

__all__ = ["CorruptRecordError", "ErrorCode", "KafkaError", "ProtocolViolation"]


class KafkaError(Exception):
    """An error that maps to one Kafka error code in a response."""

    error_code: ErrorCode = ErrorCode.unknown_server_error

    def __init__(self, message: str = "", error_code: ErrorCode | None = None) -> None:
        super().__init__(message)
        if error_code is not None:
            self.error_code = error_code


class CorruptRecordError(KafkaError):
    """A record batch that fails size, magic or CRC checks."""

    error_code = ErrorCode.corrupt_message


class ProtocolViolation(Exception):
    """A frame that cannot be a Kafka request; the connection is closed."""

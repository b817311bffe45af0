"""Dynamic configuration znodes and the notifications brokers follow.

* ``/config/<type>/<name>`` - :class:`ConfigEntity`: ``{"version":1,"config":{k: v}}``; values
  are always strings. Types: topics, brokers (``<id>`` or ``<default>``), users, clients, ips,
  and nested ``users/<u>/clients/<c>``.
* ``/config/changes/config_change_<seq>`` - :class:`ConfigChangeNotification`: written after
  each change so every broker re-reads that entity (``{"version":2,"entity_path":"topics/t"}``).
* ``/log_dir_event_notification/log_dir_event_<seq>`` - :class:`LogDirEventNotification`: a
  broker's log directory failed (``{"version":1,"broker":1,"event":1}``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from cluster.zk.jvm_order import java_properties_order
from cluster.zk.znode_json import dumps, parse_object

CONFIG_ENTITY_VERSION = 1
CONFIG_CHANGE_VERSION = 2
LOG_DIR_FAILURE_EVENT = 1


@dataclass(frozen=True, slots=True)
class ConfigEntity:
    """Overrides for one entity (Kafka's ``ConfigEntityZNode``)."""

    config: Mapping[str, str] = field(default_factory=dict)

    def encode(self) -> bytes:
        """Keys in the order Kafka's ``Properties`` would hold them after being set in the
        order of ``config`` (Kafka sets them in request order, or znode order plus changes)."""
        config = {key: self.config[key] for key in java_properties_order(self.config)}
        return dumps({"version": CONFIG_ENTITY_VERSION, "config": config})

    @classmethod
    def decode(cls, data: bytes | None, what: str = "config entity") -> ConfigEntity:
        """Null or empty data is an empty config, as Kafka reads it."""
        if data is None or not data.strip():
            return cls({})
        js = parse_object(data, what)
        config: dict[str, str] = {}
        if js.value.get("config") is not None:
            for key, value in js.obj("config").items():
                if not isinstance(value, str):
                    raise js.error(f"config value of {key!r} must be a string, got {value!r}")
                config[key] = value
        return cls(config)


@dataclass(frozen=True, slots=True)
class ConfigChangeNotification:
    """"Re-read ``/config/<entity_path>``". ``entity_path`` is ``<type>/<sanitized name>``
    (``users/<u>/clients/<c>`` for nested client quotas)."""

    entity_path: str

    @classmethod
    def of(cls, entity_type: str, sanitized_name: str) -> ConfigChangeNotification:
        return cls(f"{entity_type}/{sanitized_name}")

    @property
    def entity_type(self) -> str:
        return self.entity_path.split("/", 1)[0]

    @property
    def entity_name(self) -> str:
        return self.entity_path.split("/", 1)[1] if "/" in self.entity_path else ""

    def encode(self) -> bytes:
        return dumps({"version": CONFIG_CHANGE_VERSION, "entity_path": self.entity_path})

    @classmethod
    def decode(cls, data: bytes | None) -> ConfigChangeNotification:
        """Version 2 (``entity_path``) or the old version 1 (``entity_type`` + ``entity_name``)."""
        js = parse_object(data, "config change notification")
        version = js.req_int("version")
        if version == 1:
            return cls(f"{js.req_str('entity_type')}/{js.req_str('entity_name')}")
        if version == 2:
            path = js.req_str("entity_path")
            if "/" not in path:
                raise js.error(f"entity_path {path!r} is not <type>/<name>")
            return cls(path)
        raise js.error(f"unsupported version {version}")


@dataclass(frozen=True, slots=True)
class LogDirEventNotification:
    """A broker reports a failed log directory; the controller then asks it which replicas
    went offline."""

    broker_id: int
    event: int = LOG_DIR_FAILURE_EVENT

    def encode(self) -> bytes:
        return dumps({"version": 1, "broker": self.broker_id, "event": self.event})

    @classmethod
    def decode(cls, data: bytes | None) -> LogDirEventNotification:
        js = parse_object(data, "log dir event notification")
        return cls(js.req_int("broker"), js.req_int("event", default=LOG_DIR_FAILURE_EVENT))

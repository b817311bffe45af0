"""Per-listener values: ``listener.name.<listener>.<key>`` beats ``<key>`` (as in Kafka)."""

from __future__ import annotations

from broker.config.broker_config import BROKER_CONFIGS, BrokerConfig, ConfigError
from storage.log_config import ConfigValue

LISTENER_PREFIX = "listener.name."


def listener_key(listener: str, key: str) -> str:
    return f"{LISTENER_PREFIX}{listener.lower()}.{key}"


def listener_raw(config: BrokerConfig, listener: str, key: str) -> tuple[str, str] | None:
    """(the key as written, raw value) of a listener override of ``key``, if any."""
    wanted = listener_key(listener, key)
    for written, raw in config.unknown.items():
        if written.lower() == wanted:
            return written, raw
    return None


def listener_value(config: BrokerConfig, listener: str, key: str) -> tuple[str, ConfigValue]:
    """(the key that supplied it, parsed value) of ``key`` for ``listener``."""
    found = listener_raw(config, listener, key)
    if found is None:
        return key, config.values[key]
    written, raw = found
    try:
        return written, BROKER_CONFIGS[key].parse(raw)
    except ValueError as exc:
        raise ConfigError(written, str(exc)) from None


def listener_overrides(config: BrokerConfig) -> list[tuple[str, str, str, str]]:
    """(written key, LISTENER NAME, inner key, raw value) of every listener.name. key."""
    out = []
    for written, raw in config.unknown.items():
        if written.lower().startswith(LISTENER_PREFIX):
            name, _, inner = written[len(LISTENER_PREFIX) :].partition(".")
            out.append((written, name.upper(), inner, raw))
    return out

"""DescribeConfigs of a BROKER resource, as Kafka's ConfigHelper answers it.

A broker's configuration has four layers (KIP-226), highest precedence first: dynamic
per-broker configs (``/config/brokers/<id>``), the dynamic cluster-wide default
(``/config/brokers/<default>``), the static configuration (server.properties and
``--override``) and Kafka's defaults. Each entry's synonyms list every layer that sets the
key or a synonym of it, in that order; its source is the first of them; ``read_only`` is
false only for keys that can change at run time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from broker.config.config_defs import BROKER_CONFIG_DEFS, BROKER_CONFIGS
from storage.log_config import (
    ConfigEntry,
    ConfigSource,
    ConfigSynonym,
    ConfigType,
    ConfigValue,
    layered_synonyms,
)

if TYPE_CHECKING:
    from broker.config.broker_config import BrokerConfig

# The resolved id is shown for these, as Kafka shows the broker.id it runs with.
_RESOLVED = ("broker.id", "node.id")


@dataclass(frozen=True, slots=True)
class ConfigLayers:
    """The raw strings of each layer; ``static`` is what the broker was started with."""

    static: Mapping[str, str]
    dynamic_broker: Mapping[str, str] = field(default_factory=dict)
    dynamic_default: Mapping[str, str] = field(default_factory=dict)

    def with_defaults(self) -> tuple[tuple[Mapping[str, str | None], ConfigSource], ...]:
        return (
            (self.dynamic_broker, ConfigSource.DYNAMIC_BROKER_CONFIG),
            (self.dynamic_default, ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG),
            (self.static, ConfigSource.STATIC_BROKER_CONFIG),
            (_DEFAULTS, ConfigSource.DEFAULT_CONFIG),
        )


_DEFAULTS: dict[str, str | None] = {d.name: d.default_str for d in BROKER_CONFIG_DEFS}


def _always_read_only(_key: str) -> bool:
    return True


def _never(_key: str) -> bool:
    return False


def broker_entries(
    config: BrokerConfig,
    layers: ConfigLayers,
    names: Iterable[str] | None = None,
    *,
    read_only: Callable[[str], bool] = _always_read_only,
    key_info: Callable[[str], tuple[ConfigType, bool, str | None]] | None = None,
    synonyms_of: Callable[[str], list[str]] | None = None,
    effective: Mapping[str, str] | None = None,
) -> list[ConfigEntry]:
    """Entries for a broker id: every key of the table, then the keys outside it that a
    layer sets (listener overrides, dynamic-only and custom keys), valued from ``config``
    (the current, effective configuration) or ``effective`` (its raw properties).

    ``key_info(key)`` gives (type, sensitive, documentation) of keys outside the table,
    ``synonyms_of(key)`` the key's synonym chain (default: the table's)."""
    wanted = set(names) if names is not None else None
    entries: list[ConfigEntry] = []
    for d in BROKER_CONFIG_DEFS:
        if wanted is not None and d.name not in wanted:
            continue
        value: ConfigValue = config.broker_id if d.name in _RESOLVED else config.values[d.name]
        entries.append(
            _entry(
                d.name,
                None if d.sensitive else d.format(value),
                d.type,
                d.sensitive,
                d.doc,
                layers,
                read_only(d.name),
                synonyms_of,
            )
        )
    extra = dict.fromkeys(
        [*layers.static, *layers.dynamic_default, *layers.dynamic_broker]
    )
    raw = effective if effective is not None else {}
    for key in extra:
        if key in BROKER_CONFIGS or (wanted is not None and key not in wanted):
            continue
        kind, sensitive, doc = key_info(key) if key_info is not None else _unknown(key)
        value_text = raw.get(key)
        entries.append(
            _entry(
                key,
                None if sensitive else value_text,
                kind,
                sensitive,
                doc,
                layers,
                read_only(key),
                synonyms_of,
            )
        )
    return entries


def default_entries(
    layers: ConfigLayers,
    names: Iterable[str] | None = None,
    *,
    read_only: Callable[[str], bool] = _never,
    key_info: Callable[[str], tuple[ConfigType, bool, str | None]] | None = None,
    synonyms_of: Callable[[str], list[str]] | None = None,
) -> list[ConfigEntry]:
    """Entries for the cluster-wide default (the empty resource name): only the keys set
    there, each with its DYNAMIC_DEFAULT_BROKER_CONFIG synonyms."""
    wanted = set(names) if names is not None else None
    entries: list[ConfigEntry] = []
    for key, value in layers.dynamic_default.items():
        if wanted is not None and key not in wanted:
            continue
        d = BROKER_CONFIGS.get(key)
        doc: str | None
        if d is not None:
            kind, sensitive, doc = d.type, d.sensitive, d.doc
        else:
            kind, sensitive, doc = key_info(key) if key_info is not None else _unknown(key)
        entry = _entry(
            key,
            None if sensitive else value,
            kind,
            sensitive,
            doc,
            layers,
            read_only(key),
            synonyms_of,
            only=ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG,
        )
        entries.append(entry)
    return entries


def _unknown(_key: str) -> tuple[ConfigType, bool, str | None]:
    # Kafka treats a key of unknown type as sensitive.
    return ConfigType.UNKNOWN, True, None


def _entry(
    name: str,
    value: str | None,
    kind: ConfigType,
    sensitive: bool,
    doc: str | None,
    layers: ConfigLayers,
    read_only: bool,
    synonyms_of: Callable[[str], list[str]] | None,
    only: ConfigSource | None = None,
) -> ConfigEntry:
    chain = synonyms_of(name) if synonyms_of is not None else _table_chain(name)
    synonyms: list[ConfigSynonym] = layered_synonyms(
        name, chain, layers.with_defaults(), sensitive
    )
    if only is not None:
        synonyms = [s for s in synonyms if s.source is only]
    source = (
        synonyms[0].source if synonyms and synonyms[0].name == name else ConfigSource.DEFAULT_CONFIG
    )
    return ConfigEntry(
        name=name,
        value=value,
        source=source,
        read_only=read_only,
        is_sensitive=sensitive,
        synonyms=tuple(synonyms),
        config_type=kind,
        documentation=doc,
    )


def _table_chain(name: str) -> list[str]:
    """The synonym chain the table declares for ``name`` (the chain whose member it is)."""
    for d in BROKER_CONFIG_DEFS:
        names = [s.name for s in d.synonyms]
        if name in names:
            return names
    return [name]

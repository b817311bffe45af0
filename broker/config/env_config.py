"""Broker configuration from environment variables, the way container images take it.

``josef start --override-from-env`` reads two families of variables:

- ``KAFKA_<NAME>`` sets the Kafka key spelled by NAME: ``KAFKA_BROKER_ID`` → ``broker.id``,
  ``KAFKA_ZOOKEEPER_CONNECT`` → ``zookeeper.connect``.
- ``JOSEF_<NAME>`` sets the Josef key ``josef.<name>``: ``JOSEF_CLUSTER_ID`` →
  ``josef.cluster.id``.

NAME is upper-case letters, digits and underscores. It is lower-cased and its runs of
underscores become ``.`` (one), ``_`` (two) or ``-`` (three), the rule of Apache Kafka's
own image (apache/kafka); Confluent's images swap the last two. Longer runs are refused.

A variable that maps to a key the broker does not know is refused (ConfigError), so a typo
never starts a broker with a setting silently missing. Not mapped: the variables that
configure the process rather than the broker (:data:`PROCESS_VARIABLES`: ``JOSEF_LOG_LEVEL``
and the JVM launcher settings of Kafka images) and the service-link variables Kubernetes
injects for a Service named ``kafka`` or ``josef`` (``KAFKA_PORT``, ``KAFKA_SERVICE_HOST``...).

Precedence in ``josef start``: the ``--config`` file < the environment < ``--override``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass

from broker.config.broker_config import is_known_key
from broker.config.properties import ConfigError

__all__ = [
    "JOSEF_PREFIX",
    "KAFKA_PREFIX",
    "PROCESS_VARIABLES",
    "EnvOverride",
    "env_overrides",
    "key_for_variable",
    "log_env_overrides",
    "override_args",
    "variable_for_key",
]

logger = logging.getLogger(__name__)

KAFKA_PREFIX = "KAFKA_"
JOSEF_PREFIX = "JOSEF_"

# Variables under our prefixes that configure the process, not the broker.
PROCESS_VARIABLES = frozenset(
    {
        "JOSEF_LOG_LEVEL",  # read by the CLI itself
        # the launcher settings of Kafka's images (kafka-run-class.sh, Confluent's images)
        "KAFKA_DEBUG",
        "KAFKA_GC_LOG_OPTS",
        "KAFKA_HEAP_OPTS",
        "KAFKA_HOME",
        "KAFKA_JMX_OPTS",
        "KAFKA_JVM_PERFORMANCE_OPTS",
        "KAFKA_LOG4J_LOGGERS",
        "KAFKA_LOG4J_OPTS",
        "KAFKA_LOG4J_ROOT_LOGLEVEL",
        "KAFKA_OPTS",
        "KAFKA_TOOLS_LOG4J_LOGLEVEL",
        "KAFKA_VERSION",
    }
)

# Kubernetes service links for a Service named "kafka" or "josef": <NAME>_SERVICE_HOST,
# <NAME>_SERVICE_PORT[_<port name>], <NAME>_PORT[_<port>_<proto>[_ADDR|_PORT|_PROTO]].
_SERVICE_LINK = re.compile(
    r"^(?:KAFKA|JOSEF)_(?:SERVICE_HOST|SERVICE_PORT(?:_[A-Z0-9_]+)?"
    r"|PORT(?:_\d+_(?:TCP|UDP|SCTP)(?:_(?:ADDR|PORT|PROTO))?)?)$"
)
_NAME = re.compile(r"^[A-Z0-9_]+$")
_UNDERSCORES = re.compile(r"_+")
_RUNS = {1: ".", 2: "_", 3: "-"}


@dataclass(frozen=True, slots=True)
class EnvOverride:
    """One configuration key set by one environment variable."""

    variable: str
    key: str
    value: str


def _spell(variable: str, name: str) -> str:
    def replace(match: re.Match[str]) -> str:
        run = len(match.group(0))
        if run not in _RUNS:
            raise ConfigError(
                variable, f"{run} underscores in a row: use _ for '.', __ for '_', ___ for '-'"
            )
        return _RUNS[run]

    return _UNDERSCORES.sub(replace, name.lower())


def key_for_variable(variable: str) -> str | None:
    """The configuration key ``variable`` sets, or None if it is not a config variable.

    Raises :class:`ConfigError` for a variable under our prefixes that cannot be a key
    (lower-case letters, four underscores in a row, ``KAFKA_JOSEF_...``).
    """
    if variable in PROCESS_VARIABLES or _SERVICE_LINK.match(variable):
        return None
    if variable.startswith(KAFKA_PREFIX):
        name, namespace = variable[len(KAFKA_PREFIX) :], ""
    elif variable.startswith(JOSEF_PREFIX):
        name, namespace = variable[len(JOSEF_PREFIX) :], "josef."
    else:
        return None
    if not _NAME.match(name):
        raise ConfigError(
            variable, "a configuration variable is upper-case letters, digits and underscores"
        )
    key = namespace + _spell(variable, name)
    if not namespace and key.startswith("josef."):
        raise ConfigError(variable, f"set {key} with {JOSEF_PREFIX}{name[len('JOSEF_') :]}")
    return key


def variable_for_key(key: str) -> str:
    """The environment variable that sets ``key`` (the inverse of :func:`key_for_variable`)."""
    prefix = KAFKA_PREFIX
    if key.startswith("josef."):
        prefix, key = JOSEF_PREFIX, key[len("josef.") :]
    name = key.replace("_", "__").replace("-", "___").replace(".", "_")
    return prefix + name.upper()


def env_overrides(environ: Mapping[str, str]) -> list[EnvOverride]:
    """The configuration keys ``environ`` sets, sorted by variable name.

    Raises :class:`ConfigError` (naming the variable) for a variable that maps to a key
    the broker does not know.
    """
    result: list[EnvOverride] = []
    for variable in sorted(environ):
        key = key_for_variable(variable)
        if key is None:
            continue
        if not is_known_key(key):
            raise ConfigError(variable, f"maps to {key}, which is not a broker configuration key")
        result.append(EnvOverride(variable, key, environ[variable]))
    return result


def override_args(overrides: list[EnvOverride]) -> list[str]:
    """``key=value`` strings in the form of ``--override`` arguments."""
    return [f"{o.key}={o.value}" for o in overrides]


def log_env_overrides(overrides: list[EnvOverride]) -> None:
    """One INFO line naming the keys taken from the environment (values may be secrets)."""
    if overrides:
        logger.info(
            "configuration from the environment: %s",
            ", ".join(f"{o.key} ({o.variable})" for o in overrides),
        )

"""The ``josef`` command.

``josef start [--config FILE] [--override-from-env] [--override key=value ...]`` runs one
broker; the environment (KAFKA_*, JOSEF_*: broker.config.env_config) beats the file and
overrides beat both.
Subcommands are registered on one argparse subparsers table; admin commands
(topics, groups, configs, ...) add themselves the same way.

Exit status: the broker's own return code for ``start``; 2 for a usage error
or an invalid configuration (including a setting Josef does not implement,
see ``broker.config.support``), which is reported on stderr as one line:
``josef: invalid configuration: <key>: <reason>``.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Callable, Sequence
from importlib import metadata
from pathlib import Path

from broker import log_setup
from broker.admin import register_commands as register_admin_commands
from broker.config.broker_config import BrokerConfig, ConfigError, load_config
from broker.config.env_config import env_overrides, log_env_overrides, override_args
from broker.config.support import check_supported
from broker.http.security import build_http_ssl_context
from broker.security.channel import build_listener_security

LOG_FORMAT = log_setup.TEXT_FORMAT
LOG_LEVEL_ENV = "JOSEF_LOG_LEVEL"
EXIT_USAGE = 2

Command = Callable[[argparse.Namespace], int]


def version() -> str:
    try:
        return metadata.version("josef")
    except metadata.PackageNotFoundError:
        return "unknown"


def configure_logging(
    level_name: str | None = None, log_format: str = "text", levels: str | None = None
) -> None:
    """Log to stderr in ``log_format`` (josef.log.format); the root level from
    $JOSEF_LOG_LEVEL (INFO by default), per-logger levels from ``levels``
    (josef.log.levels, already validated by the config)."""
    name = (level_name or os.environ.get(LOG_LEVEL_ENV) or "INFO").strip().upper()
    level = log_setup.LEVELS.get(name)
    log_setup.configure(
        log_format,
        log_setup.parse_log_levels(levels),
        logging.INFO if level is None else level,
        sys.stderr,
    )
    if level is None:
        logging.getLogger(__name__).warning(
            "%s=%s is not a log level; using INFO", LOG_LEVEL_ENV, name
        )


def _start(args: argparse.Namespace) -> int:
    configure_logging()
    try:
        from_env = env_overrides(os.environ) if args.override_from_env else []
        log_env_overrides(from_env)
        config = load_config(args.config, [*override_args(from_env), *args.overrides])
        check_supported(config)
        configure_logging(log_format=config.josef_log_format, levels=config.josef_log_levels)
        # Reads key stores: any problem with them is reported here, before the broker runs.
        build_listener_security(config)
        build_http_ssl_context(config)
    except ConfigError as exc:
        print(f"josef: invalid configuration: {exc}", file=sys.stderr)
        return EXIT_USAGE
    # Imported late: the server pulls in everything, and config errors come first.
    server = importlib.import_module("broker.server")
    run_broker: Callable[[BrokerConfig], int] = server.run_broker
    try:
        return run_broker(config)
    except KeyboardInterrupt:
        return 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="josef", description="Josef, a Kafka-compatible broker in Python."
    )
    parser.add_argument("--version", action="version", version=f"josef {version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    start = commands.add_parser(
        "start",
        help="run a broker",
        description="Run one broker. Without zookeeper.connect it runs standalone.",
    )
    start.add_argument(
        "-c",
        "--config",
        type=Path,
        metavar="FILE",
        help="server.properties file (Java properties format)",
    )
    start.add_argument(
        "-o",
        "--override",
        dest="overrides",
        action="extend",
        nargs="+",
        default=[],
        metavar="KEY=VALUE",
        help="set a configuration key; beats the file and the environment (repeatable)",
    )
    start.add_argument(
        "--override-from-env",
        action="store_true",
        help="also take keys from KAFKA_<NAME> and JOSEF_<NAME> variables (KAFKA_BROKER_ID"
        " = broker.id, JOSEF_CLUSTER_ID = josef.cluster.id); they beat the file",
    )
    start.set_defaults(handler=_start)
    register_admin_commands(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(list(argv) if argv is not None else None)
    handler: Command | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    return handler(args)

"""Shared plumbing of the admin commands: common options, errors and exit statuses.

Every command takes ``--bootstrap-server``, ``--command-config FILE`` (a Kafka client
properties file: bootstrap.servers, security.protocol, ssl.*, sasl.*; see
:mod:`broker.admin.client_config`) and ``--output text|json``. ``--bootstrap-server``
beats the file's ``bootstrap.servers``; without either the default is 127.0.0.1:9092.

Exit status: 0 on success, 1 when the broker answers with an error (its name and message
are printed on stderr) or cannot be reached, 2 on a usage error or an unusable
``--command-config`` file.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Final, TextIO

from broker.admin.client import (
    CLIENT_ID,
    DEFAULT_TIMEOUT_S,
    AdminClient,
    AdminError,
    KafkaResponseError,
)
from broker.admin.client_config import ClientConfig, ClientConfigError, load_client_config

EXIT_OK: Final = 0
EXIT_ERROR: Final = 1
EXIT_USAGE: Final = 2
DEFAULT_BOOTSTRAP: Final = "127.0.0.1:9092"

Action = Callable[[AdminClient, argparse.Namespace, TextIO], int | None]


class UsageError(Exception):
    """A bad combination of options, found after argparse accepted them."""


def add_connection_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--bootstrap-server",
        default=None,
        metavar="HOST:PORT[,...]",
        help=f"broker(s) to connect to (default: the --command-config file's "
        f"bootstrap.servers, else {DEFAULT_BOOTSTRAP})",
    )
    parser.add_argument(
        "--command-config",
        metavar="FILE",
        help="Kafka client properties (security.protocol, ssl.*, sasl.mechanism, "
        "sasl.jaas.config, ...)",
    )
    parser.add_argument(
        "--output",
        choices=("text", "json"),
        default="text",
        help="text (Kafka's tools' layout, default) or json",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=None,
        metavar="SECONDS",
        help=f"socket timeout per request (default {DEFAULT_TIMEOUT_S:g}, or the file's "
        "request.timeout.ms)",
    )


def parse_key_value(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise UsageError(f"expected key=value, got {text!r}")
    return key.strip(), value


def run(action: Action, args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Run one admin action with a client for ``args.bootstrap_server``; map errors to
    exit statuses."""
    out = out or sys.stdout
    try:
        with connect(args) as client:
            status = action(client, args, out)
        out.flush()
        return EXIT_OK if status is None else status
    except UsageError as exc:
        print(f"josef: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except ClientConfigError as exc:
        print(f"josef: invalid --command-config: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KafkaResponseError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except AdminError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except BrokenPipeError:
        return EXIT_OK
    except KeyboardInterrupt:
        return 130


def client_config(args: argparse.Namespace) -> ClientConfig:
    path = getattr(args, "command_config", None)
    return ClientConfig() if path is None else load_client_config(path)


def connect(args: argparse.Namespace) -> AdminClient:
    """An AdminClient for the command's --bootstrap-server / --command-config."""
    config = client_config(args)
    bootstrap = args.bootstrap_server or config.bootstrap_servers or DEFAULT_BOOTSTRAP
    timeout = args.timeout or config.request_timeout_s or DEFAULT_TIMEOUT_S
    try:
        return AdminClient(
            bootstrap,
            timeout=timeout,
            client_id=config.client_id or CLIENT_ID,
            security=config.security,
        )
    except ValueError as exc:
        raise UsageError(f"bad bootstrap servers {bootstrap!r}: {exc}") from None


def handler(action: Action) -> Callable[[argparse.Namespace], int]:
    def command(args: argparse.Namespace) -> int:
        return run(action, args)

    return command

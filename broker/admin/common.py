"""Shared plumbing of the admin commands: common options, errors and exit statuses.

Exit status: 0 on success, 1 when the broker answers with an error (its name and message
are printed on stderr) or cannot be reached, 2 on a usage error.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Final, TextIO

from broker.admin.client import DEFAULT_TIMEOUT_S, AdminClient, AdminError, KafkaResponseError

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
        default=DEFAULT_BOOTSTRAP,
        metavar="HOST:PORT[,...]",
        help=f"broker(s) to connect to (default {DEFAULT_BOOTSTRAP})",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT_S,
        metavar="SECONDS",
        help=f"socket timeout per request (default {DEFAULT_TIMEOUT_S:g})",
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
        with AdminClient(args.bootstrap_server, timeout=args.timeout) as client:
            status = action(client, args, out)
        out.flush()
        return EXIT_OK if status is None else status
    except UsageError as exc:
        print(f"josef: {exc}", file=sys.stderr)
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


def handler(action: Action) -> Callable[[argparse.Namespace], int]:
    def command(args: argparse.Namespace) -> int:
        return run(action, args)

    return command

"""Admin commands (``josef topics|configs|groups|produce|consume|elect-leaders|reassign|acls|
quotas|transactions|cluster|offsets|records|logdirs``) and the small synchronous Kafka
protocol client they share; standard protocol only, so they work against Josef and Apache
Kafka alike."""

from __future__ import annotations

from typing import Any


def register_commands(commands: Any) -> None:
    """Add the admin subcommands to ``josef``'s argparse subparsers table."""
    from broker.admin import (
        acls,
        cluster_info,
        console,
        groups,
        partitions,
        quotas,
        replicas,
        topics,
        transactions,
    )

    topics.register(commands)
    groups.register(commands)
    console.register(commands)
    replicas.register(commands)
    acls.register(commands)
    quotas.register(commands)
    transactions.register(commands)
    cluster_info.register(commands)
    partitions.register(commands)

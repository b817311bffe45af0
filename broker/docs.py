"""Generated README sections: supported APIs and configuration keys.

``python -m broker.docs`` rewrites the marked sections of README.md; a unit
test fails when README.md and the code disagree.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from broker.api_table import render_markdown as render_api_table
from broker.config.broker_config import BROKER_CONFIG_DEFS
from storage.log_config import render_markdown_table

# Broker keys whose values the running broker acts on today; the rest are
# parsed and validated (so existing server.properties files load) and are
# reserved for the features that use them.
IN_EFFECT = frozenset(
    {
        "broker.id",
        "node.id",
        "broker.rack",
        "josef.cluster.id",
        "listeners",
        "advertised.listeners",
        "listener.security.protocol.map",
        "socket.request.max.bytes",
        "connections.max.idle.ms",
        "message.max.bytes",
        "log.dir",
        "log.dirs",
        "num.partitions",
        "default.replication.factor",
        "auto.create.topics.enable",
        "delete.topic.enable",
        "log.segment.bytes",
        "log.roll.ms",
        "log.roll.hours",
        "log.roll.jitter.ms",
        "log.roll.jitter.hours",
        "log.retention.ms",
        "log.retention.minutes",
        "log.retention.hours",
        "log.retention.bytes",
        "log.retention.check.interval.ms",
        "log.segment.delete.delay.ms",
        "log.flush.interval.messages",
        "log.flush.interval.ms",
        "log.flush.scheduler.interval.ms",
        "log.flush.offset.checkpoint.interval.ms",
        "log.flush.start.offset.checkpoint.interval.ms",
        "log.index.interval.bytes",
        "log.index.size.max.bytes",
        "log.message.timestamp.type",
        "log.message.timestamp.before.max.ms",
        "log.message.timestamp.after.max.ms",
        "log.cleanup.policy",
        "group.consumer.session.timeout.ms",
        "group.consumer.heartbeat.interval.ms",
        "group.consumer.max.size",
        "group.consumer.assignors",
        "min.insync.replicas",
        "num.recovery.threads.per.data.dir",
        "producer.id.expiration.ms",
        "max.incremental.fetch.session.cache.slots",
        "compression.type",
        "log.cleaner.enable",
        "log.cleaner.threads",
        "log.cleaner.io.max.bytes.per.second",
        "log.cleaner.dedupe.buffer.size",
        "log.cleaner.io.buffer.load.factor",
        "log.cleaner.backoff.ms",
        "log.cleaner.min.cleanable.ratio",
        "log.cleaner.delete.retention.ms",
        "log.cleaner.min.compaction.lag.ms",
        "log.cleaner.max.compaction.lag.ms",
        "group.initial.rebalance.delay.ms",
        "group.min.session.timeout.ms",
        "group.max.session.timeout.ms",
        "group.max.size",
        "offsets.topic.num.partitions",
        "offsets.topic.replication.factor",
        "offsets.topic.segment.bytes",
        "offsets.retention.minutes",
        "offsets.retention.check.interval.ms",
        "offsets.load.buffer.size",
        "offset.metadata.max.bytes",
        "replica.high.watermark.checkpoint.interval.ms",
        "josef.max.partitions",
        "fetch.max.bytes",
        "queued.max.request.bytes",
        "josef.request.receive.timeout.ms",
    }
)


def render_broker_config_table() -> str:
    effective = [d for d in BROKER_CONFIG_DEFS if d.name in IN_EFFECT]
    reserved = sorted(d.name for d in BROKER_CONFIG_DEFS if d.name not in IN_EFFECT)
    table = render_markdown_table(effective)
    return (
        table
        + "\nAlso accepted and validated, reserved for features still to come: "
        + ", ".join(f"`{n}`" for n in reserved)
        + ".\n"
    )


def render_topic_config_table() -> str:
    from storage.log_config import TOPIC_CONFIG_DEFS

    return render_markdown_table(TOPIC_CONFIG_DEFS)


SECTIONS = {
    "apis": render_api_table,
    "broker-configs": render_broker_config_table,
    "topic-configs": render_topic_config_table,
}


def update_readme(text: str) -> str:
    for name, render in SECTIONS.items():
        pattern = re.compile(
            rf"(<!-- generated:{name} -->\n).*?(<!-- /generated:{name} -->)", re.DOTALL
        )
        if not pattern.search(text):
            raise ValueError(f"README has no generated:{name} section")
        body = render()

        def replace(m: re.Match[str], body: str = body) -> str:
            return m.group(1) + body + m.group(2)

        text = pattern.sub(replace, text)
    return text


def main() -> int:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("README.md")
    path.write_text(update_readme(path.read_text()))
    return 0


if __name__ == "__main__":
    sys.exit(main())

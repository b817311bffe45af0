"""ZooKeeper layer of cluster mode: Kafka 3.9's znode layout and JSON, over kazoo.

* :mod:`cluster.zk.paths` - every path Kafka uses (the one place that spells them).
* :mod:`cluster.zk.znodes`, :mod:`cluster.zk.topic_znodes`, :mod:`cluster.zk.config_znodes`
  - typed encode/decode of each znode's JSON, byte-compatible with Kafka 3.9.
* :mod:`cluster.zk.client` - :class:`~cluster.zk.client.ZkClient`, an asyncio-facing kazoo
  wrapper (deadlines, multi-op transactions, watches and session events on the loop).
* :mod:`cluster.zk.registration` - cluster id, broker id generation, broker registration,
  producer id blocks and controller election done Kafka's way.

FORMATS.md in this folder describes what Kafka 3.9.1 writes, as captured from a real cluster.
"""

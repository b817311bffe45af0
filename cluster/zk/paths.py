"""Kafka's ZooKeeper paths: the one module that spells them (Kafka's ``ZkData`` names).

Every path is relative to the chroot of ``zookeeper.connect``. Entity names in config paths
are *sanitized* the way Kafka sanitizes them (user principals and client ids URL-encoded,
see :func:`sanitize_entity_name`); topic names and broker ids are used as they are.
"""

from __future__ import annotations

from urllib.parse import quote, unquote_plus

# -- top level ------------------------------------------------------------------------------
ADMIN = "/admin"
BROKERS = "/brokers"
CLUSTER = "/cluster"
CONFIG = "/config"
CONSUMERS = "/consumers"  # the pre-0.9 consumer's path; Kafka still creates it
CONTROLLER = "/controller"  # ephemeral, the active controller
CONTROLLER_EPOCH = "/controller_epoch"
FEATURE = "/feature"
ISR_CHANGE_NOTIFICATION = "/isr_change_notification"
LATEST_PRODUCER_ID_BLOCK = "/latest_producer_id_block"
LOG_DIR_EVENT_NOTIFICATION = "/log_dir_event_notification"
DELEGATION_TOKEN = "/delegation_token"
MIGRATION = "/migration"

# -- /brokers -------------------------------------------------------------------------------
BROKER_IDS = f"{BROKERS}/ids"
BROKER_TOPICS = f"{BROKERS}/topics"
BROKER_SEQUENCE_ID = f"{BROKERS}/seqid"

# -- /cluster -------------------------------------------------------------------------------
CLUSTER_ID = f"{CLUSTER}/id"

# -- /admin ---------------------------------------------------------------------------------
DELETE_TOPICS = f"{ADMIN}/delete_topics"
REASSIGN_PARTITIONS = f"{ADMIN}/reassign_partitions"  # legacy (pre-KIP-455) reassignment
PREFERRED_REPLICA_ELECTION = f"{ADMIN}/preferred_replica_election"  # legacy

# -- /config --------------------------------------------------------------------------------
CONFIG_CHANGES = f"{CONFIG}/changes"
CONFIG_CHANGE_PREFIX = "config_change_"
# Kafka's ConfigType.ALL in 3.9 (each gets /config/<type> at broker start).
CONFIG_TYPE_TOPICS = "topics"
CONFIG_TYPE_CLIENTS = "clients"
CONFIG_TYPE_USERS = "users"
CONFIG_TYPE_BROKERS = "brokers"
CONFIG_TYPE_IPS = "ips"
CONFIG_TYPES = (
    CONFIG_TYPE_TOPICS,
    CONFIG_TYPE_CLIENTS,
    CONFIG_TYPE_USERS,
    CONFIG_TYPE_BROKERS,
    CONFIG_TYPE_IPS,
)
DEFAULT_ENTITY = "<default>"  # /config/brokers/<default>, /config/clients/<default>, ...

# -- notifications --------------------------------------------------------------------------
ISR_CHANGE_PREFIX = "isr_change_"
LOG_DIR_EVENT_PREFIX = "log_dir_event_"

# -- ACLs -----------------------------------------------------------------------------------
LITERAL_ACLS = "/kafka-acl"
EXTENDED_ACLS = "/kafka-acl-extended"  # + /<pattern type, lower case>/<ResourceType>/<name>
LITERAL_ACL_CHANGES = "/kafka-acl-changes"
EXTENDED_ACL_CHANGES = "/kafka-acl-extended-changes"
ACL_CHANGE_PREFIX = "acl_changes_"

# Persistent paths a Kafka broker creates at start-up (Kafka's ZkData.PersistentZkPaths),
# each with null data.
PERSISTENT_PATHS: tuple[str, ...] = (
    CONSUMERS,
    BROKER_IDS,
    BROKER_TOPICS,
    CONFIG_CHANGES,
    DELETE_TOPICS,
    BROKER_SEQUENCE_ID,
    ISR_CHANGE_NOTIFICATION,
    LATEST_PRODUCER_ID_BLOCK,
    LOG_DIR_EVENT_NOTIFICATION,
    *(f"{CONFIG}/{t}" for t in CONFIG_TYPES),
)


def broker(broker_id: int) -> str:
    """``/brokers/ids/<id>``: ephemeral registration of a live broker."""
    return f"{BROKER_IDS}/{broker_id}"


def topic(name: str) -> str:
    """``/brokers/topics/<topic>``: the replica assignment (and topic id)."""
    return f"{BROKER_TOPICS}/{name}"


def topic_partitions(name: str) -> str:
    return f"{topic(name)}/partitions"


def topic_partition(name: str, partition: int) -> str:
    return f"{topic_partitions(name)}/{partition}"


def consumer_offset(group: str, topic_name: str, partition: int) -> str:
    """``/consumers/<group>/offsets/<t>/<p>``: an OffsetCommit v0 offset (decimal text)."""
    return f"{CONSUMERS}/{group}/offsets/{topic_name}/{partition}"


def partition_state(name: str, partition: int) -> str:
    """``/brokers/topics/<t>/partitions/<p>/state``: leader, ISR, epochs."""
    return f"{topic_partition(name, partition)}/state"


def config_entity_type(entity_type: str) -> str:
    return f"{CONFIG}/{entity_type}"


def config_entity(entity_type: str, sanitized_name: str) -> str:
    """``/config/<type>/<name>`` (``/config/users/<u>/clients/<c>`` for nested quotas: pass
    ``entity_type="users"`` and ``sanitized_name="<u>/clients/<c>"``)."""
    return f"{CONFIG}/{entity_type}/{sanitized_name}"


def topic_config(name: str) -> str:
    return config_entity(CONFIG_TYPE_TOPICS, name)


def broker_config(broker_id: int | None) -> str:
    """``/config/brokers/<id>``, or ``/config/brokers/<default>`` for the cluster default."""
    name = DEFAULT_ENTITY if broker_id is None else str(broker_id)
    return config_entity(CONFIG_TYPE_BROKERS, name)


def config_change_sequence_prefix() -> str:
    """Create a PERSISTENT_SEQUENTIAL node at this path: ``/config/changes/config_change_``."""
    return f"{CONFIG_CHANGES}/{CONFIG_CHANGE_PREFIX}"


def delete_topic_marker(name: str) -> str:
    """``/admin/delete_topics/<topic>``: a topic queued for deletion."""
    return f"{DELETE_TOPICS}/{name}"


def isr_change_sequence_prefix() -> str:
    return f"{ISR_CHANGE_NOTIFICATION}/{ISR_CHANGE_PREFIX}"


def log_dir_event_sequence_prefix() -> str:
    return f"{LOG_DIR_EVENT_NOTIFICATION}/{LOG_DIR_EVENT_PREFIX}"


def sequence_number(path: str, prefix: str) -> str:
    """The 10-digit counter ZooKeeper appended to a sequential node's name."""
    name = path.rsplit("/", 1)[-1]
    if not name.startswith(prefix):
        raise ValueError(f"{path!r} is not a {prefix}<seq> node")
    return name[len(prefix) :]


def sanitize_entity_name(name: str) -> str:
    """Kafka's ``Sanitizer.sanitize``: Java's URL encoding (only ``A-Za-z0-9._-`` kept) with
    ``*`` as %2A and space as %20; user principals and client ids may hold any character,
    znode names may not."""
    return quote(name, safe="").replace("~", "%7E")


def desanitize_entity_name(name: str) -> str:
    """Kafka's ``Sanitizer.desanitize`` (Java's URL decoding: ``+`` is a space)."""
    return unquote_plus(name)

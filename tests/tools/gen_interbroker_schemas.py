"""Generate kio-style schema modules for the inter-broker APIs kio lacks.

kio 0.6.5 is generated from Kafka 4.x, which dropped ZooKeeper mode: it has no
LeaderAndIsr (4), StopReplica (5), UpdateMetadata (6) or ControlledShutdown (7), and only
AlterPartition v2-v3. This tool reads Kafka 3.9's message definitions (the JSON files under
clients/src/main/resources/common/message/ of apache/kafka at branch 3.9) for field order,
types, versions, nullability, tags and defaults, and writes one frozen dataclass module per
API, version and direction under protocol/schema/, in the layout kio's native
entity_reader/entity_writer understand (ClassVars, ``kafka_type``/``tag`` field metadata,
nested entity tuples). Only structural facts are taken from the definitions; the
docstrings are our own (DOCS below).

Run by hand from the repository root, then format:

    git -C /work/.mirror/apache+kafka/repo archive 3.9 \
        clients/src/main/resources/common/message | tar -x -C /tmp/kafka-3.9-messages
    python tests/tools/gen_interbroker_schemas.py \
        /tmp/kafka-3.9-messages/clients/src/main/resources/common/message
    ruff check --fix --select I protocol/schema && ruff format protocol/schema
"""

from __future__ import annotations

import json
import keyword
import re
import shutil
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
OUT = REPO / "protocol" / "schema"

# message name -> (package name, versions to generate; None = every valid version)
APIS: dict[str, tuple[str, range | None]] = {
    "LeaderAndIsr": ("leader_and_isr", None),
    "StopReplica": ("stop_replica", None),
    "UpdateMetadata": ("update_metadata", None),
    "ControlledShutdown": ("controlled_shutdown", None),
    "AlterPartition": ("alter_partition", range(0, 2)),  # kio has v2-v3
    # Client APIs whose oldest versions kio 0.6.5 dropped (Kafka 3.9 still serves them).
    "OffsetCommit": ("offset_commit", range(0, 2)),  # kio has v2-v9
    "OffsetFetch": ("offset_fetch", range(0, 1)),  # kio has v1-v9
    "CreateTopics": ("create_topics", range(0, 2)),  # kio has v2-v7
    "DeleteTopics": ("delete_topics", range(0, 1)),  # kio has v1-v6
    "OffsetForLeaderEpoch": ("offset_for_leader_epoch", range(0, 2)),  # kio has v2-v4
    "DescribeLogDirs": ("describe_log_dirs", range(0, 1)),  # kio has v1-v4
    "DescribeAcls": ("describe_acls", range(0, 1)),  # kio has v1-v3
    "CreateAcls": ("create_acls", range(0, 1)),  # kio has v1-v3
    "DeleteAcls": ("delete_acls", range(0, 1)),  # kio has v1-v3
    "DescribeConfigs": ("describe_configs", range(0, 1)),  # kio has v1-v4
}

# Our own words for each class (message name, struct name).
DOCS: dict[tuple[str, str], str] = {
    ("LeaderAndIsrRequest", "LeaderAndIsrRequest"): (
        "The controller tells a broker which of its replicas lead and which follow, with "
        "each partition's leader, leader epoch and ISR."
    ),
    ("LeaderAndIsrRequest", "LeaderAndIsrTopicState"): "The partitions of one topic.",
    ("LeaderAndIsrRequest", "LeaderAndIsrPartitionState"): (
        "One partition's leadership as recorded in its state znode."
    ),
    ("LeaderAndIsrRequest", "LeaderAndIsrLiveLeader"): (
        "A broker that leads one of the listed partitions, with its inter-broker endpoint."
    ),
    ("LeaderAndIsrResponse", "LeaderAndIsrResponse"): (
        "A broker's answer to LeaderAndIsr: a top-level error and one per partition."
    ),
    ("LeaderAndIsrResponse", "LeaderAndIsrTopicError"): "The partition errors of one topic.",
    ("LeaderAndIsrResponse", "LeaderAndIsrPartitionError"): "The outcome for one partition.",
    ("StopReplicaRequest", "StopReplicaRequest"): (
        "The controller tells a broker to stop fetching (and optionally delete) replicas."
    ),
    ("StopReplicaRequest", "StopReplicaPartitionV0"): "One partition to stop (v0 layout).",
    ("StopReplicaRequest", "StopReplicaTopicV1"): "The partitions of one topic to stop.",
    ("StopReplicaRequest", "StopReplicaTopicState"): "The partitions of one topic to stop.",
    ("StopReplicaRequest", "StopReplicaPartitionState"): (
        "One partition to stop, with the leader epoch that fences stale requests."
    ),
    ("StopReplicaResponse", "StopReplicaResponse"): (
        "A broker's answer to StopReplica: a top-level error and one per partition."
    ),
    ("StopReplicaResponse", "StopReplicaPartitionError"): "The outcome for one partition.",
    ("UpdateMetadataRequest", "UpdateMetadataRequest"): (
        "The controller pushes the cluster's live brokers and partition states to a broker's "
        "metadata cache."
    ),
    ("UpdateMetadataRequest", "UpdateMetadataTopicState"): "The partition states of one topic.",
    ("UpdateMetadataRequest", "UpdateMetadataPartitionState"): (
        "One partition's leader, ISR, replicas and offline replicas."
    ),
    ("UpdateMetadataRequest", "UpdateMetadataBroker"): "A live broker and its endpoints.",
    ("UpdateMetadataRequest", "UpdateMetadataEndpoint"): "One listener of a live broker.",
    ("UpdateMetadataResponse", "UpdateMetadataResponse"): "A broker's answer to UpdateMetadata.",
    ("ControlledShutdownRequest", "ControlledShutdownRequest"): (
        "A broker asks the controller to move leadership away before it shuts down."
    ),
    ("ControlledShutdownResponse", "ControlledShutdownResponse"): (
        "The controller's answer: the partitions the broker still leads (retry while any)."
    ),
    ("ControlledShutdownResponse", "RemainingPartition"): "A partition the broker still leads.",
    ("AlterPartitionRequest", "AlterPartitionRequest"): (
        "A partition leader asks the controller to change the ISR it recorded."
    ),
    ("AlterPartitionRequest", "TopicData"): "The partitions of one topic.",
    ("AlterPartitionRequest", "PartitionData"): "The proposed ISR of one partition.",
    ("AlterPartitionResponse", "AlterPartitionResponse"): (
        "The controller's answer to AlterPartition, with the state it recorded."
    ),
    ("AlterPartitionResponse", "TopicData"): "The partitions of one topic.",
    ("AlterPartitionResponse", "PartitionData"): "The recorded state of one partition.",
    ("OffsetCommitRequest", "OffsetCommitRequest"): (
        "A consumer stores its positions for a group (v0: offsets kept in ZooKeeper; v1: "
        "with group generation and member, kept by the group coordinator)."
    ),
    ("OffsetCommitRequest", "OffsetCommitRequestTopic"): "The partitions of one topic.",
    ("OffsetCommitRequest", "OffsetCommitRequestPartition"): (
        "The offset (and metadata) to store for one partition."
    ),
    ("OffsetCommitResponse", "OffsetCommitResponse"): "The outcome of each committed offset.",
    ("OffsetCommitResponse", "OffsetCommitResponseTopic"): "The partitions of one topic.",
    ("OffsetCommitResponse", "OffsetCommitResponsePartition"): "The outcome for one partition.",
    ("OffsetFetchRequest", "OffsetFetchRequest"): (
        "A consumer asks for a group's stored positions (v0: the offsets kept in ZooKeeper)."
    ),
    ("OffsetFetchRequest", "OffsetFetchRequestTopic"): "The partitions of one topic.",
    ("OffsetFetchResponse", "OffsetFetchResponse"): "The group's stored positions.",
    ("OffsetFetchResponse", "OffsetFetchResponseTopic"): "The partitions of one topic.",
    ("CreateTopicsRequest", "CreateTopicsRequest"): "An admin client asks for new topics.",
    ("CreateTopicsRequest", "CreatableTopic"): (
        "One topic to create: partitions and replication factor, or explicit assignments."
    ),
    ("CreateTopicsRequest", "CreatableReplicaAssignment"): "The replicas of one partition.",
    ("CreateTopicsRequest", "CreatableTopicConfig"): "One topic config override.",
    ("CreateTopicsResponse", "CreateTopicsResponse"): "The outcome for each topic.",
    ("CreateTopicsResponse", "CreatableTopicResult"): "The outcome for one topic.",
    ("DeleteTopicsRequest", "DeleteTopicsRequest"): "An admin client asks to delete topics.",
    ("DeleteTopicsResponse", "DeleteTopicsResponse"): "The outcome for each topic.",
    ("DeleteTopicsResponse", "DeletableTopicResult"): "The outcome for one topic.",
    ("OffsetForLeaderEpochRequest", "OffsetForLeaderEpochRequest"): (
        "A consumer or follower asks where each leader epoch ends in the leader's log."
    ),
    ("OffsetForLeaderEpochRequest", "OffsetForLeaderTopic"): "The partitions of one topic.",
    ("OffsetForLeaderEpochRequest", "OffsetForLeaderPartition"): (
        "One partition and the epoch asked about."
    ),
    ("OffsetForLeaderEpochResponse", "OffsetForLeaderEpochResponse"): (
        "The end offset of each asked epoch."
    ),
    ("OffsetForLeaderEpochResponse", "OffsetForLeaderTopicResult"): "The partitions of one topic.",
    ("OffsetForLeaderEpochResponse", "EpochEndOffset"): (
        "The largest epoch not above the asked one and where it ends."
    ),
    ("DescribeLogDirsRequest", "DescribeLogDirsRequest"): (
        "An admin client asks for the broker's log directories and the replicas in them."
    ),
    ("DescribeLogDirsRequest", "DescribableLogDirTopic"): "The partitions of one topic.",
    ("DescribeLogDirsResponse", "DescribeLogDirsResponse"): "The broker's log directories.",
    ("DescribeLogDirsResponse", "DescribeLogDirsResult"): "One log directory and its replicas.",
    ("DescribeLogDirsResponse", "DescribeLogDirsTopic"): "The replicas of one topic in it.",
    ("DescribeLogDirsResponse", "DescribeLogDirsPartition"): "One replica: its size and lag.",
    ("DescribeAclsRequest", "DescribeAclsRequest"): (
        "An admin client asks for the ACLs matching a filter (v0: literal resource names)."
    ),
    ("DescribeAclsResponse", "DescribeAclsResponse"): "The matching ACLs by resource.",
    ("DescribeAclsResponse", "DescribeAclsResource"): "One resource and its ACLs.",
    ("DescribeAclsResponse", "AclDescription"): "One ACL entry.",
    ("CreateAclsRequest", "CreateAclsRequest"): "An admin client adds ACLs.",
    ("CreateAclsRequest", "AclCreation"): "One ACL binding to add.",
    ("CreateAclsResponse", "CreateAclsResponse"): "The outcome for each ACL, in order.",
    ("CreateAclsResponse", "AclCreationResult"): "The outcome for one ACL.",
    ("DeleteAclsRequest", "DeleteAclsRequest"): "An admin client removes the ACLs of filters.",
    ("DeleteAclsRequest", "DeleteAclsFilter"): "One filter; every matching ACL is removed.",
    ("DeleteAclsResponse", "DeleteAclsResponse"): "The outcome for each filter, in order.",
    ("DeleteAclsResponse", "DeleteAclsFilterResult"): "The ACLs one filter removed.",
    ("DeleteAclsResponse", "DeleteAclsMatchingAcl"): "One removed ACL.",
    ("DescribeConfigsRequest", "DescribeConfigsRequest"): (
        "An admin client asks for the configs of topics or brokers."
    ),
    ("DescribeConfigsRequest", "DescribeConfigsResource"): (
        "One resource and the keys wanted (null: all)."
    ),
    ("DescribeConfigsResponse", "DescribeConfigsResponse"): "The configs of each resource.",
    ("DescribeConfigsResponse", "DescribeConfigsResult"): "One resource's configs or error.",
    ("DescribeConfigsResponse", "DescribeConfigsResourceResult"): "One config key.",
    ("OffsetFetchResponse", "OffsetFetchResponsePartition"): (
        "The stored offset of one partition (-1 when none)."
    ),
}

# Our own notes on fields whose meaning is not evident from the name (snake-case name).
FIELD_DOCS: dict[str, str] = {
    "is_k_raft_controller": "True only while migrating to KRaft (KIP-866); Josef sends False.",
    "type_": "0 unknown, 1 incremental, 2 full (used during KRaft migration; Josef sends 0).",
    "broker_epoch": "A broker's epoch: the czxid of its /brokers/ids znode, or -1.",
    "partition_epoch": "The version of the partition's state znode (zkVersion).",
    "zk_version": "The version of the partition's state znode.",
    "is_new": "True when the replica is being created, so no log should exist yet.",
    "leader_recovery_state": "1 while recovering from an unclean leader election, else 0.",
    "adding_replicas": "Replicas being added by a reassignment.",
    "removing_replicas": "Replicas being removed by a reassignment.",
    "delete_partitions": "Delete the stopped replicas' logs as well.",
    "delete_partition": "Delete the stopped replica's log as well.",
    "leader_epoch": "The partition's leader epoch (-1: not known).",
    "security_protocol": "SecurityProtocol id: 0 PLAINTEXT, 1 SSL, 2 SASL_PLAINTEXT, 3 SASL_SSL.",
    "offline_replicas": "Replicas whose log directory is offline.",
}


@dataclass(frozen=True)
class Versions:
    low: int
    high: int  # inclusive; a large number for "N+"

    @classmethod
    def parse(cls, text: str | None) -> Versions:
        if text is None or text == "none":
            return cls(1, 0)
        if text.endswith("+"):
            return cls(int(text[:-1]), 1 << 15)
        if "-" in text:
            low, high = text.split("-")
            return cls(int(low), int(high))
        return cls(int(text), int(text))

    def __contains__(self, version: object) -> bool:
        return isinstance(version, int) and self.low <= version <= self.high


def load_message(path: Path) -> dict[str, Any]:
    lines = [line for line in path.read_text().splitlines() if not line.strip().startswith("//")]
    return json.loads("\n".join(lines))  # type: ignore[no-any-return]


def snake(name: str) -> str:
    """Kafka's CamelCase field name in kio's spelling (isKRaftController -> is_k_raft_...)."""
    if name == "ThrottleTimeMs":
        return "throttle_time"
    out = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name).lower()
    if keyword.iskeyword(out) or out == "type":  # kio appends _ to names it cannot use
        out += "_"
    return out


def _docstring(text: str, indent: str) -> list[str]:
    one = f'{indent}"""{text}"""'
    if len(one) <= 100:
        return [one]
    wrapped = textwrap.wrap(text, 96 - len(indent))
    return [f'{indent}"""{wrapped[0]}', *(indent + w for w in wrapped[1:]), f'{indent}"""']


_INT_TYPES = {"int8": "i8", "int16": "i16", "int32": "i32", "int64": "i64"}


@dataclass
class Emitted:
    classes: list[str]
    imports: set[str]
    done: set[str]


class ModuleWriter:
    """Writes the classes of one (message, version) module."""

    def __init__(self, message: dict[str, Any], version: int) -> None:
        self.message = message
        self.name: str = message["name"]
        self.version = version
        self.flexible = version in Versions.parse(message.get("flexibleVersions"))
        self.common = {s["name"]: s for s in message.get("commonStructs", [])}
        self.is_request = message["type"] == "request"
        self.out = Emitted([], set(), set())

    # -- types -----------------------------------------------------------------------
    def _scalar(self, f: dict[str, Any]) -> tuple[str, str]:
        """(python type, kafka_type) of a scalar field or of an array's elements."""
        kind = f["type"].removeprefix("[]")
        entity = f.get("entityType")
        if f["name"].endswith("ErrorCode") and kind == "int16":
            self.out.imports.add("from kio.schema.errors import ErrorCode")
            return "ErrorCode", "error_code"
        if f["name"] == "ThrottleTimeMs":
            self.out.imports.add("from kio.static.primitive import i32Timedelta")
            return "i32Timedelta", "timedelta_i32"
        if kind == "int32" and entity == "brokerId":
            self.out.imports.add("from kio.schema.types import BrokerId")
            return "BrokerId", "int32"
        if kind in _INT_TYPES:
            self.out.imports.add(f"from kio.static.primitive import {_INT_TYPES[kind]}")
            return _INT_TYPES[kind], kind
        if kind == "string":
            if entity == "topicName":
                self.out.imports.add("from kio.schema.types import TopicName")
                return "TopicName", "string"
            return "str", "string"
        if kind == "bool":
            return "bool", "bool"
        if kind == "uuid":
            self.out.imports.add("import uuid")
            return "uuid.UUID | None", "uuid"
        if kind == "bytes":
            return "bytes", "bytes"
        raise NotImplementedError(f"{self.name}: type {f['type']} of {f['name']}")

    def _default(self, f: dict[str, Any], py_type: str) -> str | None:
        if "default" not in f:
            return None
        raw = str(f["default"])
        if f["type"] == "bool":
            return {"true": "True", "false": "False"}[raw]
        if f["type"] in _INT_TYPES:
            return f"{py_type}({int(raw, 0)})"
        if f["type"] == "string":
            return "None" if raw == "null" else repr(raw)
        raise NotImplementedError(f"default for {f['type']}")

    # -- structs ---------------------------------------------------------------------
    def _struct_fields(self, type_name: str, f: dict[str, Any]) -> list[dict[str, Any]]:
        if "fields" in f:
            return f["fields"]  # type: ignore[no-any-return]
        return self.common[type_name]["fields"]  # type: ignore[no-any-return]

    def emit_struct(self, class_name: str, fields: list[dict[str, Any]], top: bool) -> None:
        if class_name in self.out.done:
            return
        lines: list[str] = []
        for f in fields:
            if self.version not in Versions.parse(f["versions"]):
                continue
            lines.extend(self._field_lines(f))
        kind = ("request" if self.is_request else "response") if top else "nested"
        header = self._header_class()
        doc = DOCS.get((self.name, class_name))
        if doc is None:
            raise KeyError(f"write a docstring for {self.name}.{class_name}")
        body = [
            "",
            "",
            "@dataclass(frozen=True, slots=True, kw_only=True)",
            f"class {class_name}:",
            *_docstring(doc, "    "),
            "",
            f"    __type__: ClassVar = EntityType.{kind}",
            f"    __version__: ClassVar[i16] = i16({self.version})",
            f"    __flexible__: ClassVar[bool] = {self.flexible}",
            f"    __api_key__: ClassVar[i16] = i16({self.message['apiKey']})",
            f"    __header_schema__: ClassVar[type[{header}]] = {header}",
            *lines,
        ]
        self.out.classes.append("\n".join(body))
        self.out.done.add(class_name)

    def _header_class(self) -> str:
        if self.is_request:
            v = 2 if self.flexible else 1
            self.out.imports.add(f"from kio.schema.request_header.v{v}.header import RequestHeader")
            return "RequestHeader"
        v = 1 if self.flexible else 0
        self.out.imports.add(f"from kio.schema.response_header.v{v}.header import ResponseHeader")
        return "ResponseHeader"

    def _field_lines(self, f: dict[str, Any]) -> list[str]:
        name = snake(f["name"])
        ftype: str = f["type"]
        nullable = self.version in Versions.parse(f.get("nullableVersions"))
        tagged = "tag" in f and self.version in Versions.parse(f.get("taggedVersions"))
        if tagged and not self.flexible:
            raise ValueError(f"tagged field {name} in a non-flexible version")
        is_array = ftype.startswith("[]")
        element = ftype.removeprefix("[]")
        is_struct = element not in (*_INT_TYPES, "string", "bool", "uuid", "bytes")
        metadata: dict[str, Any] = {}
        default: str | None
        if is_struct:
            self.emit_struct(element, self._struct_fields(element, f), top=False)
            py = f"tuple[{element}, ...]" if is_array else element
            default = None
        else:
            scalar, kafka_type = self._scalar(f)
            metadata["kafka_type"] = kafka_type
            py = f"tuple[{scalar}, ...]" if is_array else scalar
            default = "()" if is_array else self._default(f, scalar)
        if nullable and not py.endswith("| None"):
            py = f"{py} | None"
        if tagged:
            metadata["tag"] = int(f["tag"])
            if default is None:
                default = "None" if nullable else None
            if default is None:
                raise ValueError(f"tagged field {name} needs a default")
        meta = ", ".join(f'"{k}": {v!r}' for k, v in metadata.items())
        args = []
        if metadata:
            args.append(f"metadata={{{meta}}}")
        if default is not None:
            args.append(f"default={default}")
        line = f"    {name}: {py} = field({', '.join(args)})" if args else f"    {name}: {py}"
        lines = [line]
        note = FIELD_DOCS.get(name)
        if note:
            lines.extend(_docstring(note, "    "))
        return lines

    def render(self) -> str:
        top_fields = self.message["fields"]
        self.emit_struct(self.name, top_fields, top=True)
        self.out.imports.add("from kio.static.primitive import i16")
        direction = "request" if self.is_request else "response"
        api = self.name.removesuffix("Request").removesuffix("Response")
        head = [
            f'"""{api} {direction} v{self.version} (API key {self.message["apiKey"]}).',
            "",
            "Generated by tests/tools/gen_interbroker_schemas.py from Kafka 3.9's message",
            'definitions; do not edit by hand."""',
            "",
        ]
        plain = sorted(i for i in self.out.imports if i.startswith("import "))
        froms = sorted(i for i in self.out.imports if i.startswith("from "))
        std = [
            "from dataclasses import dataclass, field",
            "from typing import ClassVar",
        ]
        kio_lines = sorted([*froms, "from kio.static.constants import EntityType"])
        imports = [*plain, *([""] if plain else []), *std, "", *kio_lines]
        return "\n".join(head + imports) + "\n" + "\n".join(self.out.classes) + "\n"


def generate(message_dir: Path) -> list[tuple[int, str, int, str, str]]:
    """Writes the modules; returns (api key, package, version, request, response) rows."""
    rows = []
    for api, (package, only) in APIS.items():
        request = load_message(message_dir / f"{api}Request.json")
        response = load_message(message_dir / f"{api}Response.json")
        valid = Versions.parse(request["validVersions"])
        versions = only if only is not None else range(valid.low, valid.high + 1)
        pkg_dir = OUT / package
        if pkg_dir.exists():
            shutil.rmtree(pkg_dir)
        pkg_dir.mkdir(parents=True)
        (pkg_dir / "__init__.py").write_text(f'"""{api} (API key {request["apiKey"]})."""\n')
        for v in versions:
            vdir = pkg_dir / f"v{v}"
            vdir.mkdir()
            (vdir / "request.py").write_text(ModuleWriter(request, v).render())
            (vdir / "response.py").write_text(ModuleWriter(response, v).render())
            (vdir / "__init__.py").write_text(
                f"from .request import {api}Request\n"
                f"from .response import {api}Response\n\n"
                f'__all__ = ("{api}Request", "{api}Response")\n'
            )
            rows.append((int(request["apiKey"]), package, v, f"{api}Request", f"{api}Response"))
    return rows


def write_index(rows: list[tuple[int, str, int, str, str]]) -> None:
    names = sorted({(key, package) for key, package, *_ in rows})
    lines = [
        '"""Where the schemas of protocol/schema live: API key -> name, and (API key,',
        "version) -> the request and response classes, in the dotted form of kio's",
        'schema_name_map. Generated by tests/tools/gen_interbroker_schemas.py."""',
        "",
        "from collections.abc import Mapping",
        "from types import MappingProxyType",
        "from typing import Final",
        "",
        "# API keys kio 0.6.5 does not know at all (ZooKeeper-mode controller requests).",
        "API_KEY_NAMES: Final[Mapping[int, str]] = MappingProxyType(",
        "    {",
    ]
    known_to_kio = {
        "alter_partition",
        "offset_commit",
        "offset_fetch",
        "create_topics",
        "delete_topics",
        "offset_for_leader_epoch",
        "describe_log_dirs",
        "describe_acls",
        "create_acls",
        "delete_acls",
        "describe_configs",
    }
    for key, package in names:
        if package not in known_to_kio:
            lines.append(f'        {key}: "{package}",')
    lines += [
        "    }",
        ")",
        "",
        "# (API key, version) -> (request class path, response class path)",
        "SCHEMAS: Final[Mapping[tuple[int, int], tuple[str, str]]] = MappingProxyType(",
        "    {",
    ]
    for key, package, v, req, resp in sorted(rows):
        base = f"protocol.schema.{package}.v{v}"
        lines.append(f'        ({key}, {v}): ("{base}.request:{req}", "{base}.response:{resp}"),')
    lines += ["    }", ")", ""]
    (OUT / "index.py").write_text("\n".join(lines))


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    message_dir = Path(sys.argv[1])
    OUT.mkdir(parents=True, exist_ok=True)
    init = OUT / "__init__.py"
    if not init.exists():
        init.write_text('"""Schemas kio lacks, in kio\'s dataclass layout (see index.py)."""\n')
    write_index(generate(message_dir))


if __name__ == "__main__":
    main()

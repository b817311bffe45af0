"""``josef cluster info``: the cluster id, the controller and the brokers (as rpk cluster
info and kafka-cluster.sh cluster-id show them). DescribeCluster when the broker has it
(Kafka 2.8+), Metadata otherwise."""

from __future__ import annotations

import argparse
from typing import Any, TextIO

from broker.admin.client import DESCRIBE_CLUSTER, AdminClient, check
from broker.admin.common import add_connection_args, handler
from broker.admin.output import print_json, print_table, wants_json


def describe_cluster(client: AdminClient) -> dict[str, Any]:
    """{cluster_id, controller_id, brokers: [{id, host, port, rack}]} of the cluster."""
    conn = client.any_broker()
    if conn.supports(DESCRIBE_CLUSTER):
        _v, plain = conn.request(
            DESCRIBE_CLUSTER, {"include_cluster_authorized_operations": False, "endpoint_type": 1}
        )
        check(plain["error_code"], plain.get("error_message"), "DescribeCluster")
        brokers = [
            {"id": b["broker_id"], "host": b["host"], "port": b["port"], "rack": b.get("rack")}
            for b in plain["brokers"]
        ]
        cluster_id, controller = plain["cluster_id"], plain["controller_id"]
    else:
        info = client.cluster(refresh=True)
        brokers = [
            {"id": n.node_id, "host": n.host, "port": n.port, "rack": n.rack}
            for n in info.brokers.values()
        ]
        cluster_id, controller = info.cluster_id, info.controller_id
    return {
        "cluster_id": cluster_id,
        "controller_id": controller,
        "brokers": sorted(brokers, key=lambda b: int(b["id"])),
    }


def _info(client: AdminClient, args: argparse.Namespace, out: TextIO) -> int:
    doc = describe_cluster(client)
    if wants_json(args):
        print_json(out, doc)
        return 0
    print(f"Cluster ID: {doc['cluster_id']}", file=out)
    print(f"Controller: {doc['controller_id']}", file=out)
    print(file=out)
    rows = [
        (f"{b['id']}*" if b["id"] == doc["controller_id"] else b["id"], b["host"], b["port"],
         b["rack"] or "-")
        for b in doc["brokers"]
    ]  # fmt: skip
    print_table(out, ("ID", "HOST", "PORT", "RACK"), rows)
    return 0


def register(commands: Any) -> None:
    cluster = commands.add_parser("cluster", help="cluster id, controller and brokers")
    sub = cluster.add_subparsers(dest="cluster_command", metavar="ACTION", required=True)
    p = sub.add_parser("info", help="cluster id, controller and brokers (* marks the controller)")
    add_connection_args(p)
    p.set_defaults(handler=handler(_info))

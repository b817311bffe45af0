"""Generated README sections: supported APIs and configuration keys.

``python -m broker.docs`` rewrites the marked sections of README.md; a unit
test fails when README.md and the code disagree.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from broker.api_table import render_differences
from broker.api_table import render_markdown as render_api_table
from broker.config.broker_config import BROKER_CONFIG_DEFS
from broker.config.support import KEY_SUPPORT, Support
from storage.log_config import render_markdown_table


def render_broker_config_table() -> str:
    in_effect = [d for d in BROKER_CONFIG_DEFS if KEY_SUPPORT[d.name].status is Support.IMPLEMENTED]
    table = render_markdown_table(in_effect)
    no_effect = sorted(
        (name, s.reason) for name, s in KEY_SUPPORT.items() if s.status is Support.NO_EFFECT
    )
    refused = sorted(
        (name, s.reason)
        for name, s in KEY_SUPPORT.items()
        if s.status in (Support.REFUSED, Support.CLUSTER_ONLY)
    )
    return (
        table
        + "\nAccepted without effect (Josef behaves the same whatever their value):\n\n"
        + _reasons(no_effect)
        + "\nRefused at startup (exit status 2) unless set to Kafka's default value:\n\n"
        + _reasons(refused)
    )


def _reasons(rows: list[tuple[str, str]]) -> str:
    lines = ["| name | why |", "| --- | --- |"]
    lines += [f"| `{name}` | {reason} |" for name, reason in rows]
    return "\n".join(lines) + "\n"


def render_dynamic_config_table() -> str:
    """Every key Kafka 3.9 can change at run time and what Josef does with it."""
    from broker.config.dynamic_keys import dynamic_key_rows

    lines = ["| name | set for | at run time |", "| --- | --- | --- |"]
    lines += [f"| `{key}` | {scope} | {what} |" for key, scope, what in dynamic_key_rows()]
    return "\n".join(lines) + "\n"


def render_topic_config_table() -> str:
    from storage.log_config import TOPIC_CONFIG_DEFS

    return render_markdown_table(TOPIC_CONFIG_DEFS)


KAFKA_WIRE_FIXTURE = Path(__file__).resolve().parents[1] / "tests/fixtures/kafka_3_9_1_wire.json"


def render_api_differences() -> str:
    import json

    recorded = json.loads(KAFKA_WIRE_FIXTURE.read_text())["api_versions"]
    return render_differences({key: (lo, hi) for key, lo, hi in recorded})


def render_broker_key_gaps() -> str:
    import json

    from broker.config.broker_config import BROKER_CONFIGS
    from broker.config.kafka_parity import render_broker_key_gaps as render

    recorded = json.loads(KAFKA_WIRE_FIXTURE.read_text())["describe_configs"]["broker"]
    return render([e["name"] for e in recorded if e["name"] not in BROKER_CONFIGS])


def render_config_differences() -> str:
    from broker.config.kafka_parity import render_other_differences

    return render_other_differences()


def render_client_matrix() -> str:
    """Client x feature, from tests/clients/matrix.json; each client's test asserts that the
    features it verified are exactly its row's "yes" cells."""
    import json

    path = Path(__file__).resolve().parents[1] / "tests" / "clients" / "matrix.json"
    matrix = json.loads(path.read_text())
    features: dict[str, str] = matrix["features"]
    lines = [
        "| client | " + " | ".join(features) + " |",
        "| --- |" + " --- |" * len(features),
    ]
    for client, row in matrix["clients"].items():
        cells = ["yes" if row["features"][f] == "yes" else row["features"][f] for f in features]
        lines.append(f"| {client} | " + " | ".join(cells) + " |")
    lines += ["", "Columns:", ""]
    lines += [f"- **{name}**: {what.split(': ', 1)[-1]}" for name, what in features.items()]
    return "\n".join(lines) + "\n"


SECTIONS = {
    "apis": render_api_table,
    "kafka-broker-key-gaps": render_broker_key_gaps,
    "kafka-config-differences": render_config_differences,
    "api-differences": render_api_differences,
    "broker-configs": render_broker_config_table,
    "dynamic-broker-configs": render_dynamic_config_table,
    "topic-configs": render_topic_config_table,
    "client-matrix": render_client_matrix,
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

"""Regenerate kafka_oracle.json: run Kafka 3.9's own ZkData codecs on the shared cases.

    cd <repo> && PYTHONPATH=. .venv/bin/python tests/unit/zk_fixtures/oracle/make_fixtures.py \
        [--kafka-libs /work/cache/kafka-3.9.1/libs]

Needs javac/java (17) and the Kafka 3.9.1 jars (org.apache.kafka:kafka_2.13:3.9.1 and its
dependencies, e.g. from ``mvn dependency:copy-dependencies``); the jars are never committed.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[2]))  # tests/, for helpers

from helpers.zk_znode_cases import CASES, ours  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--kafka-libs", default="/work/cache/kafka-3.9.1/libs")
    args = parser.parse_args()
    classpath = f"{args.kafka_libs}/*"
    cases = []
    for name, kind, facts in CASES:
        data = ours(kind, facts)
        cases.append({"name": name, "kind": kind, "facts": facts,
                      "ours": None if data is None else data.decode("utf-8")})
    with tempfile.TemporaryDirectory() as tmp:
        cases_path = Path(tmp) / "cases.json"
        cases_path.write_text(json.dumps(cases))
        subprocess.run(["javac", "-nowarn", "-cp", classpath, "-d", tmp,
                        str(HERE / "ZkDataOracle.java")], check=True)
        out = subprocess.run(
            ["java", "-cp", f"{tmp}:{classpath}", "ZkDataOracle", str(cases_path)],
            check=True, capture_output=True, text=True,
        ).stdout
    oracle = json.loads(out)
    fixture = {
        "generated_by": "tests/unit/zk_fixtures/oracle/make_fixtures.py (Kafka 3.9.1 ZkData)",
        "cases": [dict(c, **oracle[c["name"]]) for c in cases],
    }
    target = HERE.parent / "kafka_oracle.json"
    target.write_text(json.dumps(fixture, indent=1, ensure_ascii=False) + "\n")
    errors = [c["name"] for c in fixture["cases"] if any(k.endswith("_error") for k in c)]
    print(f"wrote {target} ({len(cases)} cases); errors in: {errors or 'none'}")


if __name__ == "__main__":
    main()

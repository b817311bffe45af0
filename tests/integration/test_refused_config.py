"""`josef start` refuses settings it would otherwise ignore: exit 2, one line naming the key."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.broker_process import REPO_ROOT, free_port


def josef_start(tmp_path: Path, *overrides: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    cmd = [sys.executable, "-m", "broker", "start", "--override", f"log.dirs={tmp_path}/data"]
    for item in overrides:
        cmd += ["--override", item]
    return subprocess.run(
        cmd, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=60, check=False
    )


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_ssl_listener_without_keystore_exits_2(tmp_path: Path) -> None:
    port = free_port()
    line = one_line(josef_start(tmp_path, f"listeners=SSL://127.0.0.1:{port}"))
    assert line.startswith("josef: invalid configuration: ssl.keystore.location: ")
    assert "an SSL listener needs a key store" in line
    assert "(listener SSL)" in line


def test_jks_key_store_is_refused_with_a_hint(tmp_path: Path) -> None:
    store = tmp_path / "broker.jks"
    store.write_bytes(b"\xfe\xed\xfe\xed" + b"\x00" * 60)
    line = one_line(
        josef_start(
            tmp_path,
            f"listeners=SSL://127.0.0.1:{free_port()}",
            f"ssl.keystore.location={store}",
            "ssl.keystore.password=secret",
        )
    )
    assert line.startswith("josef: invalid configuration: ssl.keystore.type: ")
    assert "JKS stores are not supported" in line
    assert "PKCS12" in line


@pytest.mark.parametrize(
    ("setting", "key", "fragment"),
    [
        ("authorizer.class.name=com.example.MyAuthorizer",
         "authorizer.class.name", "com.example.MyAuthorizer is not supported"),
        ("super.users=admin", "super.users", "principalType:principalName"),
        ("client.quota.callback.class=com.example.Quotas",
         "client.quota.callback.class", "custom client quota callbacks are not supported"),
        ("zookeeper.set.acl=true",
         "zookeeper.set.acl", "ZooKeeper ACLs on Josef's znodes are not implemented yet"),
        ("delegation.token.secret.key=s3cret",
         "delegation.token.secret.key", "delegation tokens are not supported"),
    ],
)
def test_unimplemented_setting_exits_2(
    tmp_path: Path, setting: str, key: str, fragment: str
) -> None:
    line = one_line(josef_start(tmp_path, setting))
    assert line.startswith(f"josef: invalid configuration: {key}: ")
    assert fragment in line

"""TLS vs plaintext throughput on one Josef broker, in the same run (confluent-kafka),
and the SASL/SCRAM connection set-up rate.

One broker serves a PLAINTEXT, an SSL (a self-signed ECDSA P-256 certificate made here)
and a SASL_PLAINTEXT (SCRAM-SHA-256) listener. Each round produces N 1 KiB records with
``acks=all`` and reads them back, first over PLAINTEXT, then over SSL, each on its own
topic; the median round is reported with the TLS/plaintext ratio (target >= 0.7). Then
``--sasl-connections`` connections are opened one after the other, each running
ApiVersions + SaslHandshake + a full SCRAM-SHA-256 exchange; the rate is reported (the
client's PBKDF2 is computed once, so the number measures the broker).

    python benchmarks/security.py [--records N] [--repeat K] [--sasl-connections C]
"""

from __future__ import annotations

import argparse
import base64
import datetime
import hashlib
import hmac
import ipaddress
import os
import signal
import socket
import statistics
import struct
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

sys.path.insert(0, str(Path(__file__).resolve().parent))

import workloads
from brokers import REPO, BrokerProcess, free_port, kill_all, make_josef, on_signal

SIZE = 1024


def self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path = directory / "server.pem"
    key_path = directory / "server.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def tls_josef(workdir: Path, src: Path) -> tuple[BrokerProcess, str, str]:
    broker = make_josef(workdir, src)
    cert, key = self_signed(workdir)
    ssl_port, sasl_port = free_port(), free_port()
    listeners = (
        f"PLAINTEXT://127.0.0.1:{broker.port},SSL://127.0.0.1:{ssl_port},"
        f"SASL_PLAINTEXT://127.0.0.1:{sasl_port}"
    )
    overrides = {
        "sasl.enabled.mechanisms": "SCRAM-SHA-256",
        "listeners": listeners,
        "advertised.listeners": listeners,
        "ssl.keystore.type": "PEM",
        "ssl.keystore.certificate.chain": cert.read_text(),
        "ssl.keystore.key": key.read_text(),
    }
    for k, v in overrides.items():
        broker.argv += ["--override", f"{k}={v}"]
    return broker, f"127.0.0.1:{ssl_port}", f"127.0.0.1:{sasl_port}"


SCRAM_USER, SCRAM_PASSWORD = "bench", "bench-secret"


def create_scram_user(bootstrap: str) -> None:
    from confluent_kafka.admin import (
        AdminClient,
        ScramCredentialInfo,
        ScramMechanism,
        UserScramCredentialUpsertion,
    )

    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 3})
    upsert = UserScramCredentialUpsertion(
        SCRAM_USER,
        ScramCredentialInfo(ScramMechanism.SCRAM_SHA_256, 4096),
        SCRAM_PASSWORD.encode(),
    )
    for future in admin.alter_user_scram_credentials([upsert]).values():
        future.result(timeout=30)


def _frame(api_key: int, version: int, body: bytes, correlation_id: int) -> bytes:
    payload = struct.pack(">hhih", api_key, version, correlation_id, 5) + b"bench" + body
    return struct.pack(">i", len(payload)) + payload


def _read(sock: socket.socket) -> bytes:
    def exact(n: int) -> bytes:
        buf = b""
        while len(buf) < n:
            chunk = sock.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("closed")
            buf += chunk
        return buf

    return exact(struct.unpack(">i", exact(4))[0])


def sasl_connection_rate(address: str, connections: int) -> float:
    """Connections per second, each: ApiVersions, SaslHandshake v1, SCRAM in two rounds."""
    host, port = address.split(":")
    salted: dict[bytes, bytes] = {}
    started = time.perf_counter()
    for _ in range(connections):
        with socket.create_connection((host, int(port))) as sock:
            sock.sendall(_frame(18, 0, b"", 1))
            _read(sock)
            sock.sendall(_frame(17, 1, struct.pack(">h", 13) + b"SCRAM-SHA-256", 2))
            _read(sock)
            cnonce = base64.b64encode(os.urandom(18)).decode()
            bare = f"n={SCRAM_USER},r={cnonce}"
            first = f"n,,{bare}".encode()
            sock.sendall(_frame(36, 1, struct.pack(">i", len(first)) + first, 3))
            answer = _read(sock)
            (n,) = struct.unpack_from(">i", answer, 8)  # corr, error, message(null), bytes
            server_first = answer[12 : 12 + n].decode()
            fields = dict(item.split("=", 1) for item in server_first.split(","))
            salt = base64.b64decode(fields["s"])
            if salt not in salted:
                salted[salt] = hashlib.pbkdf2_hmac(
                    "sha256", SCRAM_PASSWORD.encode(), salt, int(fields["i"])
                )
            client_key = hmac.new(salted[salt], b"Client Key", "sha256").digest()
            without_proof = f"c=biws,r={fields['r']}"
            auth = f"{bare},{server_first},{without_proof}".encode()
            signature = hmac.new(hashlib.sha256(client_key).digest(), auth, "sha256").digest()
            xored = bytes(a ^ b for a, b in zip(client_key, signature, strict=True))
            proof = base64.b64encode(xored)
            final = f"{without_proof},p={proof.decode()}".encode()
            sock.sendall(_frame(36, 1, struct.pack(">i", len(final)) + final, 4))
            answer = _read(sock)
            if struct.unpack_from(">h", answer, 4)[0] != 0:
                raise RuntimeError(f"SCRAM authentication failed: {answer!r}")
    return connections / (time.perf_counter() - started)


def with_config(extra: dict[str, Any]) -> None:
    """Add ``extra`` to every client the workloads create (security settings)."""
    producer_config, consumer_config = workloads.producer_config, workloads.consumer_config

    def producer(*args: Any, **kwargs: Any) -> dict[str, Any]:
        return {**producer_config(*args, **kwargs), **extra}

    def consumer(*args: Any, **kwargs: Any) -> dict[str, Any]:
        return {**consumer_config(*args, **kwargs), **extra}

    workloads.producer_config = producer  # type: ignore[assignment]
    workloads.consumer_config = consumer  # type: ignore[assignment]


Round = tuple[float, float, float, float]


def measure(
    broker: BrokerProcess, bootstrap: str, topic: str, records: int
) -> Round:
    """(produce MB/s, consume MB/s, broker CPU ms per produced MB, per consumed MB)."""
    workloads.create_topic(broker.bootstrap, topic)
    cpu0 = broker.cpu_seconds()
    produced = workloads.produce_throughput(bootstrap, topic, SIZE, records, "all")
    cpu1 = broker.cpu_seconds()
    consumed = workloads.consume_throughput(bootstrap, topic, SIZE, records)
    cpu2 = broker.cpu_seconds()
    mb = records * SIZE / 1e6
    return (
        produced.bytes / produced.seconds / 1e6,
        consumed.bytes / consumed.seconds / 1e6,
        (cpu1 - cpu0) * 1000 / mb,
        (cpu2 - cpu1) * 1000 / mb,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--sasl-connections", type=int, default=500)
    parser.add_argument("--josef-src", type=Path, default=REPO)
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, on_signal)
    with tempfile.TemporaryDirectory(prefix="josef-bench-tls-") as tmp:
        workdir = Path(tmp)
        broker, ssl_bootstrap, sasl_address = tls_josef(workdir, args.josef_src)
        cert = workdir / "server.pem"
        broker.start()
        try:
            broker.wait_ready()
            runs: dict[str, list[Round]] = {"plaintext": [], "tls": []}
            original = (workloads.producer_config, workloads.consumer_config)
            for i in range(args.repeat):
                workloads.producer_config, workloads.consumer_config = original
                runs["plaintext"].append(
                    measure(broker, broker.bootstrap, f"plain-{i}", args.records)
                )
                with_config({"security.protocol": "SSL", "ssl.ca.location": str(cert)})
                runs["tls"].append(measure(broker, ssl_bootstrap, f"tls-{i}", args.records))
                print(
                    f"round {i + 1}: plaintext produce {runs['plaintext'][-1][0]:.1f} MB/s "
                    f"consume {runs['plaintext'][-1][1]:.1f} MB/s; TLS produce "
                    f"{runs['tls'][-1][0]:.1f} MB/s consume {runs['tls'][-1][1]:.1f} MB/s",
                    flush=True,
                )
            create_scram_user(broker.bootstrap)
            sasl_rate = sasl_connection_rate(sasl_address, args.sasl_connections)
        except Exception:
            print(broker.log_tail(), file=sys.stderr)
            raise
        finally:
            kill_all()
    print(f"\n{args.records} x {SIZE} B records, acks=all, median of {args.repeat} rounds")
    print(
        f"{'':10} {'produce MB/s':>13} {'consume MB/s':>13} "
        f"{'broker CPU ms/MB produce':>25} {'consume':>8}"
    )
    medians = {}
    for name, values in runs.items():
        medians[name] = tuple(statistics.median(v[i] for v in values) for i in range(4))
        m = medians[name]
        print(f"{name:10} {m[0]:13.1f} {m[1]:13.1f} {m[2]:25.2f} {m[3]:8.2f}")
    ratio_p = medians["tls"][0] / medians["plaintext"][0]
    ratio_c = medians["tls"][1] / medians["plaintext"][1]
    print(f"{'TLS/plain':10} {ratio_p:13.2f} {ratio_c:13.2f}   (target >= 0.70)")
    print(f"\nSASL/SCRAM-SHA-256 connection set-up: {sasl_rate:.0f} connections/s "
          f"({args.sasl_connections} sequential connections)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

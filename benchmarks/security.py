"""TLS vs plaintext throughput on one Josef broker, in the same run (confluent-kafka).

One broker serves a PLAINTEXT and an SSL listener (a self-signed ECDSA P-256 certificate
made here). Each round produces N 1 KiB records with ``acks=all`` and reads them back,
first over PLAINTEXT, then over SSL, each on its own topic; the median round is reported
with the TLS/plaintext ratio (target >= 0.7).

    python benchmarks/security.py [--records N] [--repeat K] [--josef-src DIR]
"""

from __future__ import annotations

import argparse
import datetime
import ipaddress
import signal
import statistics
import sys
import tempfile
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


def tls_josef(workdir: Path, src: Path) -> tuple[BrokerProcess, str]:
    broker = make_josef(workdir, src)
    cert, key = self_signed(workdir)
    ssl_port = free_port()
    listeners = f"PLAINTEXT://127.0.0.1:{broker.port},SSL://127.0.0.1:{ssl_port}"
    overrides = {
        "listeners": listeners,
        "advertised.listeners": listeners,
        "ssl.keystore.type": "PEM",
        "ssl.keystore.certificate.chain": cert.read_text(),
        "ssl.keystore.key": key.read_text(),
    }
    for k, v in overrides.items():
        broker.argv += ["--override", f"{k}={v}"]
    return broker, f"127.0.0.1:{ssl_port}"


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
    parser.add_argument("--josef-src", type=Path, default=REPO)
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, on_signal)
    with tempfile.TemporaryDirectory(prefix="josef-bench-tls-") as tmp:
        workdir = Path(tmp)
        broker, ssl_bootstrap = tls_josef(workdir, args.josef_src)
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
    return 0


if __name__ == "__main__":
    sys.exit(main())

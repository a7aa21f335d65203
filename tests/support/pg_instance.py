"""A throwaway PostgreSQL server for tests that must stop it or change how it listens.

The shared server of ``make services`` serves every other test, so a test that stops
PostgreSQL, or needs it TLS-only, gets its own: ``initdb`` into a fresh directory, a free port
on 127.0.0.1, ``pg_ctl`` to start and stop. PostgreSQL refuses to run as root, so when the
tests run as root the server runs as the ``postgres`` OS user (``runuser``), in a directory
that user owns. ``fsync`` is off: this data is thrown away.

:func:`make_certificates` generates a CA and a server certificate for ``localhost`` and
``127.0.0.1`` (with the ``cryptography`` package), so clients can connect with
``sslmode=verify-full``.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import pwd
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from gim_faust.metrics import free_port

BIN = Path(os.environ.get("GIM_TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))
RUN_AS = "postgres"


@dataclass(frozen=True)
class Certificates:
    ca: Path
    cert: Path
    key: Path


def make_certificates(directory: Path, hosts: tuple[str, ...] = ("localhost", "127.0.0.1")
                      ) -> Certificates:
    """A fresh CA, and a server certificate it signed whose SAN lists ``hosts``."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    directory.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "gim-faust test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - dt.timedelta(minutes=5))
          .not_valid_after(now + dt.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       content_commitment=False, key_encipherment=False,
                                       data_encipherment=False, key_agreement=False,
                                       encipher_only=False, decipher_only=False), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])]))
            .issuer_name(ca_name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    paths = Certificates(directory / "ca.pem", directory / "server.crt", directory / "server.key")
    paths.ca.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths.key.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                            serialization.PrivateFormat.PKCS8,
                                            serialization.NoEncryption()))
    paths.key.chmod(0o600)
    return paths


class PgInstance:
    """One throwaway server; ``with PgInstance(...) as pg`` starts it and removes it after."""

    def __init__(self, base: Path | None = None, certs: Certificates | None = None) -> None:
        self._as_root = os.geteuid() == 0
        # Under /tmp rather than pytest's tmp_path: that one is private to the user running
        # the tests, and the server may run as another.
        self.base = Path(tempfile.mkdtemp(prefix="gim-pg-"))
        self.base.chmod(0o755)
        self.data = self.base / "data"
        self.log = self.base / "server.log"
        self.port = free_port()
        self.certs = certs
        self.user = RUN_AS if self._as_root else pwd.getpwuid(os.geteuid()).pw_name
        if certs is not None:
            # The server wants its key readable by itself only.
            for name, source in (("server.crt", certs.cert), ("server.key", certs.key)):
                shutil.copy(source, self.base / name)
        self._chown(self.base)
        self._run(str(BIN / "initdb"), "-D", str(self.data), "-U", "postgres",
                  "--auth=trust", "-E", "UTF8", "--no-sync", "--no-instructions")
        conf = [f"port = {self.port}", "listen_addresses = '127.0.0.1'",
                f"unix_socket_directories = '{self.base}'", "fsync = off",
                "synchronous_commit = off", "full_page_writes = off", "max_connections = 50"]
        hba = ["local all all trust"]
        if certs is not None:
            conf += ["ssl = on", f"ssl_cert_file = '{self.base / 'server.crt'}'",
                     f"ssl_key_file = '{self.base / 'server.key'}'"]
            hba += ["hostssl all all 127.0.0.1/32 trust", "hostnossl all all 0.0.0.0/0 reject"]
        else:
            hba += ["host all all 127.0.0.1/32 trust"]
        with open(self.data / "postgresql.conf", "a") as f:
            f.write("\n".join(conf) + "\n")
        (self.data / "pg_hba.conf").write_text("\n".join(hba) + "\n")
        self._chown(self.base)
        if certs is not None:
            (self.base / "server.key").chmod(0o600)

    def _chown(self, path: Path) -> None:
        if not self._as_root:
            return
        entry = pwd.getpwnam(RUN_AS)
        for root, dirs, files in os.walk(path):
            for name in (root, *(os.path.join(root, n) for n in dirs + files)):
                os.chown(name, entry.pw_uid, entry.pw_gid)

    def _run(self, *argv: str) -> None:
        command = (["runuser", "-u", RUN_AS, "--", *argv] if self._as_root else list(argv))
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            log = self.log.read_text() if self.log.exists() else ""
            raise RuntimeError(f"{' '.join(argv)} failed ({done.returncode}):\n{done.stdout}\n"
                               f"{done.stderr}\n{log[-3000:]}")

    def start(self) -> None:
        self._run(str(BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-w",
                  "-t", "60", "start")

    def stop(self) -> None:
        """A fast shutdown: open transactions are rolled back, clients disconnected."""
        self._run(str(BIN / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "-t", "60",
                  "stop")

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def url(self, dbname: str, **params: Any) -> str:
        """``postgresql://postgres@127.0.0.1:<port>/<dbname>``, with verify-full TLS when the
        server has certificates (``params`` add or override query parameters)."""
        query: dict[str, Any] = {}
        if self.certs is not None:
            query = {"sslmode": "verify-full", "sslrootcert": str(self.certs.ca)}
        query.update(params)
        return (f"postgresql://postgres@127.0.0.1:{self.port}/{dbname}"
                + (f"?{urlencode(query)}" if query else ""))

    def __enter__(self) -> PgInstance:
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        try:
            if self.running():
                self.stop()
        finally:
            shutil.rmtree(self.base, ignore_errors=True)

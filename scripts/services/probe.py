#!/usr/bin/env python3
"""Readiness probes for scripts/services.sh, standard library only (no venv needed).

    probe.py kafka HOST:PORT            ApiVersions + Metadata requests; ready when the broker
                                        answers Metadata with at least one broker and a controller.
    probe.py s3 ENDPOINT [BUCKET]       SigV4-signed ListBuckets (credentials from AWS_ACCESS_KEY_ID /
                                        AWS_SECRET_ACCESS_KEY / AWS_DEFAULT_REGION); with BUCKET,
                                        create it unless it exists.

Exit status 0 = ready, 1 = not ready (reason on stderr).
"""
from __future__ import annotations

import datetime
import hashlib
import hmac
import os
import socket
import struct
import sys
import urllib.error
import urllib.parse
import urllib.request

TIMEOUT = 3.0


# --------------------------------------------------------------------------------------------
# Kafka wire protocol (just enough for ApiVersions v0 and Metadata v4..v8, non-flexible versions)
# --------------------------------------------------------------------------------------------
class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def take(self, fmt: str):
        size = struct.calcsize(fmt)
        value = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += size
        return value[0] if len(value) == 1 else value

    def string(self) -> str | None:
        length = self.take(">h")
        if length < 0:
            return None
        raw = self.data[self.pos:self.pos + length]
        self.pos += length
        return raw.decode()


def _kafka_request(sock: socket.socket, api_key: int, version: int, corr: int, body: bytes) -> _Reader:
    client_id = b"gim-services-probe"
    header = struct.pack(">hhih", api_key, version, corr, len(client_id)) + client_id
    payload = header + body
    sock.sendall(struct.pack(">i", len(payload)) + payload)
    size = struct.unpack(">i", _recv_exact(sock, 4))[0]
    reader = _Reader(_recv_exact(sock, size))
    got = reader.take(">i")
    if got != corr:
        raise RuntimeError(f"correlation id mismatch {got} != {corr}")
    return reader


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("connection closed by broker")
        buf += chunk
    return bytes(buf)


def probe_kafka(bootstrap: str) -> str:
    host, _, port = bootstrap.rpartition(":")
    with socket.create_connection((host, int(port)), timeout=TIMEOUT) as sock:
        sock.settimeout(TIMEOUT)
        # ApiVersions v0 (api key 18): every broker version must answer it.
        r = _kafka_request(sock, 18, 0, 1, b"")
        error = r.take(">h")
        if error:
            raise RuntimeError(f"ApiVersions error code {error}")
        versions = {}
        for _ in range(r.take(">i")):
            key, lo, hi = r.take(">hhh")
            versions[key] = (lo, hi)
        lo, hi = versions.get(3, (0, -1))
        candidates = [v for v in range(4, 9) if lo <= v <= hi]
        if not candidates:
            raise RuntimeError(f"broker supports Metadata v{lo}..v{hi}, probe needs one of v4..v8")
        version = max(candidates)
        # Metadata: topics = [] (empty, non-null array: no topics), allow_auto_topic_creation = false
        body = struct.pack(">i", 0) + b"\x00"
        if version >= 8:
            body += b"\x00\x00"  # include_cluster/topic_authorized_operations
        r = _kafka_request(sock, 3, version, 2, body)
        r.take(">i")  # throttle_time_ms
        brokers = []
        for _ in range(r.take(">i")):
            node_id = r.take(">i")
            bhost = r.string()
            bport = r.take(">i")
            r.string()  # rack
            brokers.append(f"{node_id}@{bhost}:{bport}")
        cluster_id = r.string()
        controller = r.take(">i")
        if not brokers or controller < 0:
            raise RuntimeError(f"no brokers/controller yet (brokers={brokers}, controller={controller})")
        return f"kafka ok: cluster {cluster_id}, brokers {','.join(brokers)}, controller {controller}"


# --------------------------------------------------------------------------------------------
# S3 with AWS Signature V4 (path-style)
# --------------------------------------------------------------------------------------------
def _sign(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def _s3_request(endpoint: str, method: str, path: str) -> tuple[int, bytes]:
    access = os.environ["AWS_ACCESS_KEY_ID"]
    secret = os.environ["AWS_SECRET_ACCESS_KEY"]
    region = os.environ.get("AWS_DEFAULT_REGION", "us-east-1")
    url = urllib.parse.urlsplit(endpoint)
    now = datetime.datetime.now(datetime.timezone.utc)
    amz_date, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
    payload_hash = hashlib.sha256(b"").hexdigest()
    headers = {"host": url.netloc, "x-amz-content-sha256": payload_hash, "x-amz-date": amz_date}
    signed = ";".join(sorted(headers))
    canonical = "\n".join([
        method, urllib.parse.quote(path), "",
        "".join(f"{k}:{headers[k]}\n" for k in sorted(headers)), signed, payload_hash,
    ])
    scope = f"{day}/{region}/s3/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = _sign(_sign(_sign(_sign(f"AWS4{secret}".encode(), day), region), "s3"), "aws4_request")
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    headers["authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={access}/{scope}, SignedHeaders={signed}, Signature={signature}"
    )
    req = urllib.request.Request(endpoint.rstrip("/") + path, method=method, headers=headers,
                                 data=b"" if method == "PUT" else None)
    try:
        with urllib.request.urlopen(req, timeout=TIMEOUT) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def probe_s3(endpoint: str, bucket: str | None) -> str:
    status, body = _s3_request(endpoint, "GET", "/")
    if status != 200:
        raise RuntimeError(f"signed ListBuckets returned HTTP {status}: {body[:300]!r}")
    if bucket:
        status, body = _s3_request(endpoint, "HEAD", f"/{bucket}")
        if status == 404:
            status, body = _s3_request(endpoint, "PUT", f"/{bucket}")
            if status not in (200, 409):
                raise RuntimeError(f"CreateBucket {bucket} returned HTTP {status}: {body[:300]!r}")
            return f"s3 ok: created bucket {bucket}"
        if status != 200:
            raise RuntimeError(f"HeadBucket {bucket} returned HTTP {status}")
        return f"s3 ok: bucket {bucket} exists"
    return "s3 ok"


def main(argv: list[str]) -> int:
    try:
        if len(argv) >= 2 and argv[0] == "kafka":
            print(probe_kafka(argv[1]))
        elif len(argv) >= 2 and argv[0] == "s3":
            print(probe_s3(argv[1], argv[2] if len(argv) > 2 else None))
        else:
            print(__doc__, file=sys.stderr)
            return 2
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready"
        print(f"{argv[0]} not ready: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""The metrics endpoint every service serves: ``/metrics``, ``/healthz``, ``/readyz``.

Each service gets its own :class:`CollectorRegistry` (two apps in one test process must not
collide in the global one), and reports readiness through a callable, so ``/readyz`` always
tells the truth of the moment. ``/healthz`` tells the truth too (:class:`Heartbeat`): it
fails when the service's event loop has not run for a minute or the service says it failed
(a crashed Faust app whose process did not exit), so Kubernetes restarts it; the server's
own thread answering is no proof of life. A service may add actions (``POST /snapshot`` on the GSP), which
answer only clients on the loopback interface: the port is open to Prometheus, the actions are
for an operator's command run inside the pod.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import threading
import time
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from gim_faust import log_limit
from gim_faust.settings import MetricsSettings

DEFAULT_PORTS = {"gca": 9250, "gsp": 9249, "gim": 8249}
# An action runs on the server's thread and answers (HTTP status, body).
Action = Callable[[], tuple[int, bytes]]
# A loop that has not run for this long is stuck: no batch, timer or recovery step of ours
# holds it a tenth of that (the chart's liveness probe then restarts the pod a minute later).
STALE_S = 60.0
# What the log's repeat limit counted (one per process), served beside each service's own.
_LOG_COUNTS = CollectorRegistry()
_LOG_COUNTS.register(log_limit.collector())


class Heartbeat:
    """Liveness of a service: :meth:`run` beats on its event loop every second; the service
    is alive while the last beat is younger than ``stale_s`` and ``failed()`` is false."""

    def __init__(self, failed: Callable[[], bool] = lambda: False, stale_s: float = STALE_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.failed, self.stale_s, self.clock = failed, stale_s, clock
        self.last = clock()

    def beat(self) -> None:
        self.last = self.clock()

    async def run(self) -> None:
        while True:
            self.beat()
            await asyncio.sleep(1.0)

    def alive(self) -> bool:
        return not self.failed() and self.clock() - self.last < self.stale_s


class MetricsServer:
    """A small HTTP server on a daemon thread; ``port`` is the bound one (0 picks any)."""

    def __init__(self, registry: CollectorRegistry, ready: Callable[[], bool],
                 host: str, port: int, actions: Mapping[str, Action] | None = None,
                 alive: Callable[[], bool] = lambda: True) -> None:
        self.registry, self.ready, self.actions = registry, ready, dict(actions or {})
        self.alive = alive
        handler = self._handler()
        self._server = ThreadingHTTPServer((host, port), handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True,
                                        name=f"metrics-{self.port}")

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                if self.path == "/metrics":
                    self._send(200, generate_latest(server.registry)
                               + generate_latest(_LOG_COUNTS), CONTENT_TYPE_LATEST)
                elif self.path == "/healthz":
                    ok = server.alive()
                    self._send(200 if ok else 503, b"ok\n" if ok else b"stuck or crashed\n")
                elif self.path == "/readyz":
                    ok = server.ready()
                    self._send(200 if ok else 503, b"ready\n" if ok else b"not ready\n")
                else:
                    self._send(404, b"not found\n")

            def do_POST(self) -> None:  # noqa: N802
                action = server.actions.get(self.path)
                if action is None:
                    self._send(404, b"not found\n")
                elif not ipaddress.ip_address(self.client_address[0]).is_loopback:
                    self._send(403, b"actions answer only local clients\n")
                else:
                    self._send(*action())

            def _send(self, status: int, body: bytes, kind: str = "text/plain") -> None:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        return Handler

    def start(self) -> MetricsServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def serve(service: str, registry: CollectorRegistry, ready: Callable[[], bool],
          where: MetricsSettings, heartbeat: Heartbeat,
          actions: Mapping[str, Action] | None = None) -> MetricsServer:
    """Start the endpoint of ``service`` on its contract port unless ``where`` names one;
    ``/healthz`` answers ``heartbeat.alive()`` (the caller runs ``heartbeat.run()`` on its
    loop)."""
    port = DEFAULT_PORTS[service] if where.port is None else where.port
    return MetricsServer(registry, ready, where.host, port, actions, heartbeat.alive).start()


def free_port() -> int:
    """A local port nothing listens on right now, for a server started next (the demo and
    tests run several services on one host)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])

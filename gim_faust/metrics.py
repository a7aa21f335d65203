"""The metrics endpoint every service serves: ``/metrics``, ``/healthz``, ``/readyz``.

Each service gets its own :class:`CollectorRegistry` (two apps in one test process must not
collide in the global one), and reports readiness through a callable, so ``/readyz`` always
tells the truth of the moment.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

DEFAULT_PORTS = {"gca": 9250, "gsp": 9249, "gim": 8249}


class MetricsServer:
    """A small HTTP server on a daemon thread; ``port`` is the bound one (0 picks any)."""

    def __init__(self, registry: CollectorRegistry, ready: Callable[[], bool],
                 host: str, port: int) -> None:
        self.registry, self.ready = registry, ready
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
                    self._send(200, generate_latest(server.registry), CONTENT_TYPE_LATEST)
                elif self.path == "/healthz":
                    self._send(200, b"ok\n")
                elif self.path == "/readyz":
                    ok = server.ready()
                    self._send(200 if ok else 503, b"ready\n" if ok else b"not ready\n")
                else:
                    self._send(404, b"not found\n")

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
          host: str, port: int | None) -> MetricsServer:
    """Start the endpoint of ``service`` on its contract port unless ``port`` overrides it."""
    return MetricsServer(registry, ready, host,
                         DEFAULT_PORTS[service] if port is None else port).start()

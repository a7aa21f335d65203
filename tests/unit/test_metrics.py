"""The metrics endpoint's /healthz: alive while the service's loop runs and it has not failed,
as Kubernetes' liveness probe needs (an HTTP thread answering proves nothing)."""

import asyncio
import urllib.error
import urllib.request

from prometheus_client import CollectorRegistry

from gim_faust.metrics import Heartbeat, serve
from gim_faust.settings import MetricsSettings


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def status(port: int, path: str) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def test_healthz_fails_when_the_loop_stops_beating_or_the_service_failed() -> None:
    clock, failed = Clock(), [False]
    heartbeat = Heartbeat(failed=lambda: failed[0], stale_s=60, clock=clock)
    server = serve("gsp", CollectorRegistry(), lambda: True,
                   MetricsSettings(port=0, host="127.0.0.1"), heartbeat)
    try:
        assert status(server.port, "/healthz") == 200
        clock.now += 59
        assert status(server.port, "/healthz") == 200
        clock.now += 2  # a loop that has not run for a minute is stuck
        assert status(server.port, "/healthz") == 503
        heartbeat.beat()
        assert status(server.port, "/healthz") == 200
        failed[0] = True  # crashed, process still there
        assert status(server.port, "/healthz") == 503
        assert status(server.port, "/readyz") == 200  # readiness is its own question
    finally:
        server.stop()


def test_the_heartbeat_beats_while_its_loop_runs() -> None:
    clock = Clock()
    heartbeat = Heartbeat(clock=clock)

    async def run_a_while() -> None:
        task = asyncio.create_task(heartbeat.run())
        await asyncio.sleep(0)
        clock.now += 30
        await asyncio.sleep(1.1)
        task.cancel()
    asyncio.run(run_a_while())
    assert heartbeat.last == clock.now and heartbeat.alive()

"""Helpers for tests of simulated days: the simulator's messages through the pure pipeline,
with the simulated center as the configuration GCA would publish."""

from __future__ import annotations

from collections.abc import Iterable

from gim_faust.transforms.config_view import ConfigView
from gim_faust.transforms.runner import Runner

from gim_faust.gca.objects import build_objects
from gim_faust.simulate import SimMessage, SimOptions
from gim_faust.simulate.configdb_writer import rows

TIMEOUT_S = 14_400


def replay(options: SimOptions, messages: Iterable[SimMessage],
           timeout_s: int = TIMEOUT_S) -> Runner:
    view = ConfigView()
    for (kind, dbid), obj in build_objects(rows(options, 1)).items():
        view.apply(kind, dbid, obj)
    runner = Runner(view, options.tenant, timeout_s)
    for message in messages:
        runner.feed(f"{options.tenant}.{message.topic_suffix}", message.value)
    runner.finish()
    return runner

"""GSP, the Stream Processor. ``faust -A gim_faust.gsp worker`` finds ``app`` here.

Importing this package does nothing; reading ``app`` builds the worker from the ``GIM_*``
environment, and that connects: it locks the state directory, creates the GSP's topics,
serves the metrics port, may download a snapshot and reads the configuration topic
(``gsp.service.build``, the one place that does I/O before the worker starts). Tools that
only inspect code should import ``gim_faust.gsp.service`` instead."""

from __future__ import annotations

from typing import Any

_gsp: Any = None


def __getattr__(name: str) -> Any:
    global _gsp
    if name != "app":
        raise AttributeError(name)
    if _gsp is None:
        from gim_faust.gsp.service import build
        from gim_faust.settings import load_settings

        _gsp = build(load_settings())
    return _gsp.app

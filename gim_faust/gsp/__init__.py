"""GSP, the Stream Processor. ``faust -A gim_faust.gsp worker`` finds ``app`` here; it is
built on first access from the ``GIM_*`` environment."""

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

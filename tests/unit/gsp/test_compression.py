"""What the GSP sends to Kafka is lz4-compressed unless ``GIM_GSP_COMPRESSION=none``: its
changelog records are whole JSON states, about four times smaller compressed (docs/gsp.md)."""

from __future__ import annotations

from pathlib import Path

import pytest
from aiokafka import codec

from gim_faust.errors import ConfigError
from gim_faust.gsp.service import Gsp
from gim_faust.settings import load_settings
from gim_faust.topics import Topics


def _producer_compression(tmp_path: Path, **environ: str) -> str | None:
    settings = load_settings(environ={"GIM_TENANT": "acme", "GIM_STATE_DIR": str(tmp_path),
                                      **environ})
    topics = Topics(settings.topic_prefix, settings.gsp_app_id)
    gsp = Gsp(settings, dict.fromkeys([*topics.raw_all, topics.config], 4))
    return gsp.app.conf.producer_compression_type


def test_the_workers_compress_with_lz4_by_default(tmp_path: Path) -> None:
    assert _producer_compression(tmp_path) == "lz4"
    assert codec.has_lz4()  # else the producer refuses to start, and the loader to read


def test_compression_can_be_switched_off_for_an_upgrade(tmp_path: Path) -> None:
    assert _producer_compression(tmp_path, GIM_GSP_COMPRESSION="none") is None
    assert _producer_compression(tmp_path, GIM_GSP_COMPRESSION="LZ4") == "lz4"
    with pytest.raises(ConfigError, match="GIM_GSP_COMPRESSION"):
        load_settings(environ={"GIM_TENANT": "acme", "GIM_GSP_COMPRESSION": "gzip"})

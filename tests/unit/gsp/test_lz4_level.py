"""The GSP's lz4 record batches are compressed in lz4's fast mode (``gsp/lz4_level.py``) and
read back as they were written."""

from __future__ import annotations

import aiokafka
import cramjam
from aiokafka.record.default_records import DefaultRecordBatch, DefaultRecordBatchBuilder

from gim_faust.gsp import lz4_level

# The fixed part of a Kafka record batch (message format v2) before its records.
BATCH_HEADER = 61
STATE = b'{"format":1,"state":{"agent_login":"51099","media":{"voice":{"join":{"parties":{%s}}}}}}'


def _batch(values: list[bytes], codec: int = DefaultRecordBatch.CODEC_LZ4) -> bytes:
    builder = DefaultRecordBatchBuilder(2, codec, 0, -1, -1, -1, 1024 * 1024)
    for offset, value in enumerate(values):
        builder.append(offset, 1_772_438_400_000 + offset, b"51099", value, [])
    return bytes(builder.build())


def _compressed(level: int, payload: bytes) -> bytes:
    compressor = cramjam.lz4.Compressor(level=level, content_checksum=False,
                                        block_linked=False)
    compressor.compress(payload)
    return bytes(compressor.finish())


def test_pinned_to_the_installed_aiokafka() -> None:
    assert aiokafka.__version__ == lz4_level.PATCHED_FOR


def test_batches_are_compressed_at_the_fast_level_and_read_back() -> None:
    values = [STATE % b",".join(b'"call-%d:3":{"end_ms":%d,"emitted":[12,true]}' % (i, 10 * i)
                                for i in range(n, n + 60)) for n in range(40)]
    lz4_level.install()
    lz4_level.install()  # idempotent: still the fast level, not a partial of a partial
    batch = _batch(values)
    records = _batch(values, DefaultRecordBatch.CODEC_NONE)[BATCH_HEADER:]
    assert batch[BATCH_HEADER:] == _compressed(lz4_level.LEVEL, records)
    assert len(_compressed(9, records)) < len(batch) - BATCH_HEADER  # level 9 is not in use
    assert [record.value for record in DefaultRecordBatch(batch)] == values

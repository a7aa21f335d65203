"""Fixtures for tests that run whole services."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.deployment import Deployment


@pytest.fixture
def deployment(kafka_bootstrap: str, topic_prefix: str, db_factory: Callable[[], str],
               s3_store: str, tmp_path: Path) -> Iterator[Deployment]:
    """A fresh tenant deployment on the real services: config DB seeded with the ``day``
    scenario, empty Info Mart, fresh topic prefix and store prefix."""
    d = Deployment(kafka_bootstrap, topic_prefix, db_factory(), db_factory(), s3_store, tmp_path)
    d.load_config()
    try:
        yield d
    finally:
        d.stop_all()

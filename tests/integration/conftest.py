"""Fixtures for tests that run whole services."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import scenario as sc
from tests.support.deployment import Deployment


@pytest.fixture
def scenario_name() -> str:
    """The scenario a deployment is seeded with; a test parametrizes it to use another."""
    return "day"


@pytest.fixture
def deployment(kafka_bootstrap: str, topic_prefix: str, db_factory: Callable[[], str],
               s3_store: str, tmp_path: Path, scenario_name: str) -> Iterator[Deployment]:
    """A fresh tenant deployment on the real services: config DB seeded with the scenario
    (``day`` unless the test says otherwise), empty Info Mart, fresh topic prefix and store
    prefix."""
    d = Deployment(kafka_bootstrap, topic_prefix, db_factory(), db_factory(), s3_store, tmp_path,
                   scenario_name)
    d.load_config()
    try:
        yield d
    finally:
        d.stop_all()


@pytest.fixture(scope="module")
def versions() -> list[Any]:
    """Every fact version the transforms make of the day, in emission order."""
    return sc.fact_versions("day")


@pytest.fixture(params=["file", "s3"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An object store of each kind: a local folder, and the S3-compatible store."""
    if request.param == "file":
        return f"file://{tmp_path / 'objects'}"
    return str(request.getfixturevalue("s3_store"))

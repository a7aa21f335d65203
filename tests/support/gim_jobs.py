"""Helpers for the tests of the GIM maintenance and export jobs: an Info Mart loaded with a
scenario's facts (through the loader's :class:`Writer`, in process), its configuration
dimensions (through GCA's Info Mart sync), settings for the jobs, reading exports back.
"""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

import orjson
import psycopg
from gim_faust.loaders.jobs import InfoMart
from gim_faust.loaders.migrate import migrate
from gim_faust.loaders.writer import Batch, Writer
from psycopg import sql

from gim_faust.gca import infomart as gca_infomart
from gim_faust.gca.configdb_reader import read_tenant
from gim_faust.gca.dimensions import desired
from gim_faust.gca.objects import build_objects
from gim_faust.gim.scheduled_jobs import info_mart
from gim_faust.objectstore import ObjectStore
from gim_faust.settings import load_settings
from gim_faust.simulate.configdb_writer import contract_schema
from tests.support import scenario as sc

TENANT = "acme"


def settings(infomart_url: str, store_url: str, **env: str) -> InfoMart:
    """What the jobs work on, as the GIM service makes it from these ``GIM_*`` settings."""
    return info_mart(load_settings(environ={
        "GIM_TENANT": TENANT, "GIM_INFOMART_DB_URL": infomart_url, "GIM_OBJECT_STORE": store_url,
        **env}))


def load_facts(url: str, facts: Sequence[Any], batch_rows: int = 500) -> list[int]:
    """Loads ``facts`` (fact versions in emission order) in batches; the audit keys."""
    writer = Writer(url, "gim-loader-test")
    writer.connect()
    try:
        return [writer.write(Batch(list(facts[i:i + batch_rows]), {})).audit_key
                for i in range(0, len(facts), batch_rows)]
    finally:
        writer.close()


def config_db(url: str, scenario: str = "day") -> str:
    """Seeds the empty database ``url`` as the contact center's Configuration Database."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(contract_schema())
        conn.execute((sc.scenario(scenario) / "config.sql").read_text())
    return url


def sync_dimensions(config_url: str, infomart_url: str) -> dict[tuple[str, str], int]:
    """What ``gca run --once`` writes to the Info Mart (no Kafka, no snapshot)."""
    async def run() -> dict[tuple[str, str], int]:
        tenant = await read_tenant(config_url, TENANT)
        dims = desired(build_objects(tenant.rows), tenant.tenant_dbid)
        return await gca_infomart.sync(infomart_url, dims, tenant.tenant_dbid,
                                       datetime.now(timezone.utc))
    return asyncio.run(run())


def infomart(url: str) -> str:
    migrate(url)
    return url


def connect(url: str) -> psycopg.Connection[Any]:
    conn = psycopg.connect(url, autocommit=True)
    conn.execute("SET TIME ZONE 'UTC'")
    return conn


def rows(conn: psycopg.Connection[Any], table: str, where: str = "true",
         params: Sequence[Any] = ()) -> set[tuple[Any, ...]]:
    return set(conn.execute(sql.SQL("SELECT * FROM {} WHERE ").format(sql.Identifier(table))
                            + sql.SQL(where), params).fetchall())


def read_back(conn: psycopg.Connection[Any], table: str, data: bytes) -> list[tuple[Any, ...]]:
    """The rows of a gzip CSV export of ``table``, as PostgreSQL reads them back with
    ``COPY ... (FORMAT csv, HEADER)`` into a table shaped like ``table`` (so NULL and empty
    strings, timestamps and numbers are typed by the server, not by this test)."""
    scratch = f"read_back_{table}"
    with conn.transaction():
        conn.execute(sql.SQL("CREATE TEMP TABLE {} (LIKE {}) ON COMMIT DROP").format(
            sql.Identifier(scratch), sql.Identifier(table)))
        with conn.cursor().copy(sql.SQL("COPY {} FROM STDIN (FORMAT csv, HEADER true)").format(
                sql.Identifier(scratch))) as copy:
            copy.write(gzip.decompress(data))
        return conn.execute(sql.SQL("SELECT * FROM {}").format(
            sql.Identifier(scratch))).fetchall()


def manifest(store: ObjectStore, folder: str) -> dict[str, Any]:
    return orjson.loads(store.get(f"{TENANT}/gim/exports/{folder}/manifest.json"))


def table_file(store: ObjectStore, folder: str, table: str) -> bytes:
    return store.get(f"{TENANT}/gim/exports/{folder}/{table}.csv.gz")

"""Creates or upgrades a tenant's Info Mart schema: ``gim-faust infomart migrate``.

The schema lives in ``migrations/NNNN_name.sql``. A run:

1. creates the database if the server lacks it (through the ``postgres`` database of the same
   server), since the contract's default URL names a per-tenant database;
2. takes a session advisory lock, so two migrators (two pods starting at once) never interleave;
   advisory locks are per database, so tenants on one server do not wait for each other;
3. applies each file not yet listed in ``ctl_schema_version``, in version order, each in one
   transaction together with its ``ctl_schema_version`` row: a file is applied entirely or not
   at all, and a crash leaves a state the next run continues from;
4. fills the static dimensions from :mod:`gim_faust.transforms.codes` (insert-if-absent), then
   checks that the tables hold exactly those codes: the transforms write these keys into facts,
   so a drift between the two would silently mislabel every report.

Running it again applies nothing and changes nothing.
"""

from __future__ import annotations

import hashlib
import logging
import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from gim_faust.transforms import codes
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from gim_faust import postgres
from gim_faust.errors import FatalError, RetriableError

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().with_name("migrations")
# One 64-bit advisory lock key for "the schema of this database": b"gimmigr\x01".
LOCK_KEY = postgres.lock_key(b"gimmigr\x01")
# A migrator that starts while another holds the lock waits at most this long (the other one is
# creating tables, which takes seconds; minutes mean it is stuck and a person should look).
LOCK_WAIT_S = 300
APPLICATION = "gim-faust migrate"
_FILE = re.compile(r"^(?P<version>\d{4})_(?P<name>[a-z0-9_]+)\.sql$")

# (table, key column, code column, {code: key}): the dimensions whose rows are fixed by code.
STATIC_DIMENSIONS: tuple[tuple[str, str, str, Mapping[str, int]], ...] = (
    ("media_type", "media_type_key", "media_name_code", codes.MEDIA_TYPE),
    ("interaction_type", "interaction_type_key", "interaction_type_code", codes.INTERACTION_TYPE),
    ("technical_descriptor", "technical_descriptor_key", "technical_result",
     codes.TECHNICAL_RESULT),
    ("resource_state", "resource_state_key", "state_name", codes.RESOURCE_STATE),
)

_VERSION_TABLE = """
CREATE TABLE IF NOT EXISTS ctl_schema_version (
    version     text PRIMARY KEY,
    name        text NOT NULL,
    checksum    text NOT NULL,
    applied_ts  timestamptz(3) NOT NULL DEFAULT now(),
    applied_by  text
)
"""


@dataclass(frozen=True)
class Migration:
    version: str
    name: str
    path: Path

    @property
    def text(self) -> str:
        return self.path.read_text(encoding="utf-8")

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.path.read_bytes()).hexdigest()


def discover(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """The migration files of ``directory``, in version order."""
    found: dict[str, Migration] = {}
    for path in sorted(directory.glob("*.sql")):
        match = _FILE.match(path.name)
        if match is None:
            raise FatalError(f"migration file {path.name!r} is not named NNNN_name.sql")
        version = match["version"]
        if version in found:
            raise FatalError(f"two migration files have version {version}: "
                             f"{found[version].path.name}, {path.name}")
        found[version] = Migration(version, match["name"], path)
    if not found:
        raise FatalError(f"no migration files in {directory}")
    return [found[v] for v in sorted(found)]


def ensure_database(conninfo: str) -> bool:
    """Creates the database ``conninfo`` names if the server lacks it; True if it did."""
    dbname = conninfo_to_dict(conninfo).get("dbname")
    try:
        postgres.connect(conninfo, APPLICATION).close()
        return False
    except postgres.Unreachable as exc:
        first_error = exc
    # The server's own answer cannot be told apart reliably (it is localized), so ask it: the
    # server is reachable and the database absent, or the original error stands.
    if not dbname or dbname == "postgres":
        raise first_error
    try:
        with postgres.connect(conninfo, APPLICATION, dbname="postgres") as admin:
            if admin.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                             (dbname,)).fetchone():
                raise first_error
            try:
                # str(): conninfo_to_dict's values parsed from a string are strings already
                admin.execute(sql.SQL("CREATE DATABASE {}").format(
                    sql.Identifier(str(dbname))))
            except postgres.ALREADY_THERE:
                return False  # another migrator made it a moment ago (the catalog's unique
                #               index answers when both got past the existence check)
    except postgres.Unreachable:
        raise first_error from None
    except postgres.Error as exc:
        raise postgres.translate(exc, conninfo, f"creating database {dbname!r}",
                                 grant_hint="create it, or grant the account CREATEDB") from None
    log.info("created database %s", dbname)
    return True


def applied_versions(conn: psycopg.Connection[Any]) -> dict[str, str]:
    """Version → checksum of the migrations the database has, or {} for a blank database."""
    if conn.execute("SELECT to_regclass('ctl_schema_version')").fetchone()[0] is None:  # type: ignore[index]
        return {}
    return dict(conn.execute("SELECT version, checksum FROM ctl_schema_version").fetchall())


def _apply(conn: psycopg.Connection[Any], migration: Migration) -> None:
    log.info("applying migration %s_%s", migration.version, migration.name)
    with conn.transaction():
        # No parameters: psycopg sends the file as one simple query, several statements.
        conn.execute(migration.text.encode("utf-8"))
        conn.execute("INSERT INTO ctl_schema_version (version, name, checksum, applied_by) "
                     "VALUES (%s, %s, %s, %s)",
                     (migration.version, migration.name, migration.checksum,
                      f"gim-faust@{socket.gethostname()}"))


def seed_static_dimensions(conn: psycopg.Connection[Any]) -> None:
    """Inserts the codes of :mod:`gim_faust.transforms.codes`; fails if a table disagrees."""
    with conn.transaction():
        for table, key_col, code_col, wanted in STATIC_DIMENSIONS:
            insert = sql.SQL("INSERT INTO {} ({}, {}) VALUES (%s, %s) ON CONFLICT DO NOTHING"
                             ).format(sql.Identifier(table), sql.Identifier(key_col),
                                      sql.Identifier(code_col))
            with conn.cursor() as cur:
                cur.executemany(insert, [(key, code) for code, key in wanted.items()])
            have = dict(conn.execute(sql.SQL("SELECT {}, {} FROM {}").format(
                sql.Identifier(code_col), sql.Identifier(key_col), sql.Identifier(table)))
                .fetchall())
            if have != dict(wanted):
                raise FatalError(
                    f"table {table} holds {sorted(have.items())} but transforms/codes.py says "
                    f"{sorted(wanted.items())}: keys of static dimensions never change; fix the "
                    f"code or migrate the data deliberately")


def migrate(conninfo: str, migrations_dir: Path = MIGRATIONS_DIR) -> list[str]:
    """Brings the database of ``conninfo`` up to the newest schema; the versions it applied.

    Raises :class:`RetriableError` when the server cannot be reached and :class:`FatalError`
    when the schema or its files are inconsistent.
    """
    migrations = discover(migrations_dir)
    ensure_database(conninfo)
    conn = postgres.connect(conninfo, APPLICATION)
    applied_now: list[str] = []
    try:
        with conn, postgres.session_lock(conn, LOCK_KEY, _stuck, wait_s=LOCK_WAIT_S):
            conn.execute(_VERSION_TABLE)
            applied = applied_versions(conn)
            known = {m.version for m in migrations}
            newer = sorted(set(applied) - known)
            if newer:
                log.warning("the database has schema versions %s that this program does not "
                            "know: it is older than the schema", ", ".join(newer))
            for migration in migrations:
                if migration.version in applied:
                    if applied[migration.version] != migration.checksum:
                        log.warning("migration %s was edited after it was applied; the edit "
                                    "is not applied (write a new migration instead)",
                                    migration.path.name)
                    continue
                _apply(conn, migration)
                applied_now.append(migration.version)
            seed_static_dimensions(conn)
    except postgres.Error as exc:
        raise postgres.translate(exc, conninfo, "migrating", otherwise=FatalError) from None
    return applied_now


def _stuck() -> RetriableError:
    return RetriableError(f"another migrator held the schema lock for more than "
                          f"{LOCK_WAIT_S} s; is one stuck?")

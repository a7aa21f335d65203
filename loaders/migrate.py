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

import argparse
import hashlib
import logging
import re
import socket
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from gim_faust.transforms import codes
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from gim_faust.errors import FatalError, RetriableError
from gim_faust.settings import Settings, mask_url

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().with_name("migrations")
# One 64-bit advisory lock key for "the schema of this database": b"gimmigr\x01".
LOCK_KEY = int.from_bytes(b"gimmigr\x01", "big")
# A migrator that starts while another holds the lock waits at most this long (the other one is
# creating tables, which takes seconds; minutes mean it is stuck and a person should look).
LOCK_WAIT_S = 300
CONNECT_TIMEOUT_S = 10
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


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


def _params(conninfo: str, **overrides: Any) -> str:
    params = conninfo_to_dict(conninfo)
    params.setdefault("connect_timeout", CONNECT_TIMEOUT_S)
    params.setdefault("application_name", "gim-faust migrate")
    params.update(overrides)
    return make_conninfo(**params)


def _shown(conninfo: str) -> str:
    """The target as people may see it: no password, whichever form ``conninfo`` has."""
    if "://" in conninfo:
        return mask_url(conninfo)
    params = conninfo_to_dict(conninfo)
    return f"database {params.get('dbname', '?')!r} on {params.get('host', 'localhost')}"


def ensure_database(conninfo: str) -> bool:
    """Creates the database ``conninfo`` names if the server lacks it; True if it did."""
    dbname = conninfo_to_dict(conninfo).get("dbname")
    try:
        psycopg.connect(_params(conninfo)).close()
        return False
    except psycopg.OperationalError as exc:
        first_error = exc
    # The server's own answer cannot be told apart reliably (it is localized), so ask it: the
    # server is reachable and the database absent, or the original error stands.
    if not dbname or dbname == "postgres":
        raise RetriableError(f"cannot connect to {_shown(conninfo)}: {_one_line(first_error)}")
    try:
        with psycopg.connect(_params(conninfo, dbname="postgres"), autocommit=True) as admin:
            if admin.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                             (dbname,)).fetchone():
                raise RetriableError(
                    f"cannot connect to {_shown(conninfo)}: {_one_line(first_error)}")
            try:
                admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
            except (psycopg.errors.DuplicateDatabase, psycopg.errors.UniqueViolation):
                return False  # another migrator made it a moment ago (the catalog's unique
                #               index answers when both got past the existence check)
            except psycopg.errors.InsufficientPrivilege as exc:
                raise FatalError(f"database {dbname!r} does not exist and this account may not "
                                 f"create it: create it, or grant CREATEDB ({_one_line(exc)})"
                                 ) from None
    except psycopg.OperationalError:
        raise RetriableError(
            f"cannot connect to {_shown(conninfo)}: {_one_line(first_error)}") from None
    log.info("created database %s", dbname)
    return True


@contextmanager
def _locked(conn: psycopg.Connection[Any]) -> Iterator[None]:
    got = conn.execute("SELECT pg_try_advisory_lock(%s)", (LOCK_KEY,)).fetchone()
    if not (got and got[0]):
        log.info("another migrator holds the schema lock; waiting up to %d s", LOCK_WAIT_S)
        # lock_timeout bounds waits on heavyweight locks, advisory ones included.
        conn.execute(f"SET lock_timeout = '{LOCK_WAIT_S}s'")
        try:
            conn.execute("SELECT pg_advisory_lock(%s)", (LOCK_KEY,))
        except psycopg.errors.LockNotAvailable:
            raise RetriableError(f"another migrator held the schema lock for more than "
                                 f"{LOCK_WAIT_S} s; is one stuck?") from None
        finally:
            conn.execute("RESET lock_timeout")
    try:
        yield
    finally:
        try:
            conn.execute("SELECT pg_advisory_unlock(%s)", (LOCK_KEY,))
        except psycopg.Error:
            pass  # the connection is gone, and the session's locks with it


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
    try:
        conn = psycopg.connect(_params(conninfo), autocommit=True)
    except psycopg.OperationalError as exc:
        raise RetriableError(f"cannot connect to {_shown(conninfo)}: {_one_line(exc)}") from None
    applied_now: list[str] = []
    try:
        with conn, _locked(conn):
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
    except psycopg.OperationalError as exc:
        raise RetriableError(f"lost {_shown(conninfo)}: {_one_line(exc)}") from None
    except psycopg.Error as exc:
        raise FatalError(f"migrating {_shown(conninfo)} failed: {_one_line(exc)}") from None
    return applied_now


def run(settings: Settings, args: argparse.Namespace) -> int:
    """``gim-faust infomart migrate``."""
    applied = migrate(settings.infomart_db_url)
    target = mask_url(settings.infomart_db_url)
    if applied:
        print(f"{target}: applied {', '.join(applied)}")
    else:
        print(f"{target}: schema is up to date")
    return 0

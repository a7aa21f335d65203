"""PostgreSQL, the one way every part of gim-faust talks to it.

Connections are opened here (connect timeout, TCP keepalives, an application name, session
settings), a database is named in messages by :func:`describe` (never with a secret), and a
driver error becomes the product's error tree (``gim_faust.errors``) in :func:`translate`,
by this table, so "which database errors does gim-faust retry?" has one answer:

==========================================  ==========  ====================================
driver error (SQLSTATE)                     becomes     what the operator is told
==========================================  ==========  ====================================
undefined table, column, function (42P01,   fatal       the schema is missing or older than
42703, 42883)                                           this program; run the migration
insufficient privilege (42501)              fatal       grant the account what it lacks
data exception, integrity violation         bad input   the loader sets the refused row
(class 22, 23), while loading rows                      aside and loads the rest
anything else: connection lost or refused,  retriable   nothing: back off and try again
server shutting down, lock or statement
timeout, deadlock, serialization failure
==========================================  ==========  ====================================

A refused row is bad input only where rows are loaded (``loaders/writer.py`` catches
:data:`ROW_REFUSED` around them); anywhere else it is retried like the last line. The
migrator alone makes the last line fatal for errors that are not the connection's or the
server's (``otherwise``): a migration that failed on its SQL fails again.

Advisory locks (:func:`session_lock`, :func:`transaction_lock`) take 64-bit keys made from
eight bytes that say whose lock it is (:func:`lock_key`).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from typing import Any, TypedDict, Unpack

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from gim_faust.errors import FatalError, GimError, RetriableError

log = logging.getLogger(__name__)

Error = psycopg.Error
Connection = psycopg.Connection

# Connecting to a healthy server takes milliseconds; 10 s leaves room for TLS and a busy
# server while a dead one is noticed long before any back-off cap.
CONNECT_TIMEOUT_S = 10
# TCP keepalives notice a silently vanished server (no RST) after about 10 + 3 * 5 = 25 s,
# instead of the kernel's two hours.
KEEPALIVES = {"keepalives": 1, "keepalives_idle": 10, "keepalives_interval": 5,
              "keepalives_count": 3}

SCHEMA_MISSING = (psycopg.errors.UndefinedTable, psycopg.errors.UndefinedColumn,
                  psycopg.errors.UndefinedFunction)
NOT_ALLOWED = (psycopg.errors.InsufficientPrivilege,)
ROW_REFUSED = (psycopg.DataError, psycopg.IntegrityError)
# A CREATE DATABASE that lost the race to another session.
ALREADY_THERE = (psycopg.errors.DuplicateDatabase, psycopg.errors.UniqueViolation)
# Lost a lock wait or a deadlock: a step that met one may simply run again.
BUSY = (psycopg.errors.LockNotAvailable, psycopg.errors.DeadlockDetected)



class Unreachable(RetriableError):
    """No connection could be opened (server down, restarting, refused, unknown host or
    database); the driver's error is the ``__cause__``."""


def one_line(exc: BaseException) -> str:
    """An error's text on one line, at most 500 characters, for a log line or an exit."""
    return " ".join(str(exc).split())[:500] or type(exc).__name__


def describe(conninfo: str) -> str:
    """Which database ``conninfo`` names, in either of libpq's forms (URL or key=value),
    with nothing secret: database, user, host and port only (a password may sit in the
    URL's user part, in its query, or in a key=value pair)."""
    try:
        params = conninfo_to_dict(conninfo)
    except psycopg.ProgrammingError:
        return "a database (its connection string cannot be parsed)"
    where = str(params.get("host") or "localhost")  # parsed values are strings
    if params.get("port"):
        where += f":{params['port']}"
    who = f"{params['user']}@" if params.get("user") else ""
    return f"database {params.get('dbname', '?')!r} on {who}{where}"


def translate(exc: BaseException, conninfo: str, doing: str,
              schema_hint: str = "run `gim-faust infomart migrate`",
              grant_hint: str = "grant it what the error names",
              otherwise: type[GimError] = RetriableError) -> GimError:
    """The error tree's view of ``exc``, met while ``doing`` something with ``conninfo``'s
    database; the hints are what the operator must do when the error is fatal.
    ``otherwise``: what an error the table does not name becomes, unless it is the
    connection's or the server's state (``OperationalError``: always retriable)."""
    where, text = describe(conninfo), one_line(exc)
    if isinstance(exc, SCHEMA_MISSING):
        return FatalError(f"{doing}: {where} lacks the schema this program needs ({text}); "
                          f"{schema_hint}")
    if isinstance(exc, NOT_ALLOWED):
        return FatalError(f"{doing}: the account may not do this in {where} ({text}); "
                          f"{grant_hint}")
    becomes = RetriableError if isinstance(exc, psycopg.OperationalError) else otherwise
    return becomes(f"{doing} in {where}: {type(exc).__name__}: {text}")


def params(conninfo: str, application_name: str, session: Mapping[str, str | int] | None = None,
           **overrides: Any) -> str:
    """``conninfo`` with the product's connect timeout, keepalives and application name where
    the operator did not set them, ``session`` settings (``SET name = value`` for the
    connection's life, through libpq's ``options``) and ``overrides`` (``dbname``, ...).
    TLS settings (``sslmode=verify-full&sslrootcert=...``) pass through untouched."""
    values = conninfo_to_dict(conninfo)
    values.setdefault("connect_timeout", CONNECT_TIMEOUT_S)
    values.setdefault("application_name", application_name)
    for key, value in KEEPALIVES.items():
        values.setdefault(key, value)
    options = " ".join(f"-c {name}={value}" for name, value in (session or {}).items())
    if options:
        values["options"] = f"{values.get('options', '')} {options}".strip()
    values.update(overrides)
    return make_conninfo("", **values)


def connect(conninfo: str, application_name: str, session: Mapping[str, str | int] | None = None,
            autocommit: bool = True, **overrides: Any) -> psycopg.Connection[Any]:
    """A connection (:func:`params`); :class:`Unreachable` when none can be opened."""
    try:
        return psycopg.connect(params(conninfo, application_name, session, **overrides),
                               autocommit=autocommit)
    except psycopg.OperationalError as exc:
        raise Unreachable(f"cannot connect to {describe(conninfo)}: {one_line(exc)}") from exc


async def connect_async(conninfo: str, application_name: str,
                        session: Mapping[str, str | int] | None = None,
                        **overrides: Any) -> psycopg.AsyncConnection[Any]:
    """:func:`connect` for asyncio code."""
    try:
        return await psycopg.AsyncConnection.connect(
            params(conninfo, application_name, session, **overrides))
    except psycopg.OperationalError as exc:
        raise Unreachable(f"cannot connect to {describe(conninfo)}: {one_line(exc)}") from exc


def lock_key(tag: bytes) -> int:
    """An advisory lock key from eight bytes that say whose lock it is (``b"gimjobs\\x01"``)."""
    if len(tag) != 8:
        raise ValueError(f"an advisory lock tag has 8 bytes, not {len(tag)}: {tag!r}")
    return int.from_bytes(tag, "big")


@contextmanager
def session_lock(conn: psycopg.Connection[Any], key: int, busy: Callable[[], Exception],
                 wait_s: int = 0) -> Iterator[None]:
    """Holds advisory lock ``key`` on ``conn``'s session for the block. When another session
    has it: waits up to ``wait_s`` seconds (0: not at all), then raises ``busy()``. A
    session that dies releases its locks, so a killed holder never blocks anyone."""
    got = conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()
    if not (got and got[0]):
        if not wait_s:
            raise busy()
        log.info("another session holds advisory lock %#x; waiting up to %d s", key, wait_s)
        # lock_timeout bounds waits on heavyweight locks, advisory ones included.
        conn.execute(f"SET lock_timeout = '{int(wait_s)}s'")
        try:
            conn.execute("SELECT pg_advisory_lock(%s)", (key,))
        except psycopg.errors.LockNotAvailable:
            raise busy() from None
        finally:
            conn.execute("RESET lock_timeout")
    try:
        yield
    finally:
        try:
            conn.execute("SELECT pg_advisory_unlock(%s)", (key,))
        except psycopg.Error:
            pass  # the connection is gone, and the session's locks with it


async def transaction_lock(conn: psycopg.AsyncConnection[Any], key: int) -> None:
    """Takes advisory lock ``key`` until the current transaction ends, waiting as long as the
    session's ``lock_timeout`` allows (then the retriable lock-not-available error)."""
    await conn.execute("SELECT pg_advisory_xact_lock(%s)", (key,))


class Hints(TypedDict, total=False):
    """What the operator must do when an error is fatal (:func:`translate`)."""

    schema_hint: str
    grant_hint: str


@asynccontextmanager
async def translated(conninfo: str, doing: str, **hints: Unpack[Hints]) -> AsyncIterator[None]:
    """Driver errors raised in the block leave it translated (:func:`translate`)."""
    try:
        yield
    except psycopg.Error as exc:
        raise translate(exc, conninfo, doing, **hints) from exc

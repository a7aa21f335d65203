"""The Info Mart writer: one batch of fact records, with its Kafka offsets, in one transaction.

What a committed batch guarantees (docs/loader.md has the whole argument):

- **Offsets with the rows.** ``ctl_kafka_offset`` (next offset per topic partition) is written
  in the same transaction as the rows those offsets cover (contract ``infomart.md``,
  "Bookkeeping the loader keeps"), so after any crash the loader resumes exactly where the
  database says it stopped. Kafka's own committed offsets are only informative.
- **Versions decide.** A fact row is inserted, or updated only by a higher ``version``
  (``ON CONFLICT ... DO UPDATE ... WHERE excluded.version > t.version``): loading a record a
  second time, or an older version after a newer one, changes nothing. A final row is therefore
  never overwritten by an older active version of itself.
- **Offsets only move forward** (``GREATEST``-like upsert): a stale writer that lost its
  partitions in a rebalance and still commits cannot rewind them; its rows are no-ops anyway.
- **One lock order.** Everything is written sorted (date_time keys, then dimension rows, then
  fact tables in :data:`records.TABLE_ORDER` by id, then offsets by topic and partition), so
  writers that share a row (date_time, a placeholder) queue behind each other, never in a cycle.
- **A row the database refuses does not stall the loader.** After a data or constraint error
  in a table's rows, the batch starts over with a savepoint per table, and the refused rows
  are bisected until each culprit stands alone; those are skipped (returned in
  :attr:`BatchResult.rejected`) and the rest commit. (The common path has no savepoints.)

Rows go in through binary ``COPY`` into per-session temporary staging tables, then one
``INSERT ... SELECT ... ON CONFLICT`` per table. Staging columns of PostgreSQL ``integer``
type are made ``bigint``: binary ``COPY`` truncates an out-of-range Python int silently, while
the cast in the ``INSERT`` raises a proper error that the bisection can catch.
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg
from gim_faust.loaders import aggregate, records, user_data_rows
from gim_faust.loaders import migrate as migrations
from gim_faust.loaders.upsert_sql import upsert
from gim_faust.loaders.user_data_rows import UserDataTable
from psycopg import sql
from psycopg.types.json import Jsonb

from gim_faust import postgres
from gim_faust.errors import FatalError, GimError
from gim_faust.models.facts import Fact

log = logging.getLogger(__name__)

SOURCE = "gim-loader"
# A 5,000-row batch takes well under a second; two minutes only ends a batch that is stuck
# behind a lock or a dying server, which then retries like any other failed batch.
STATEMENT_TIMEOUT_MS = 120_000
# What the loader's account needs, as the operator is told when it lacks it.
GRANTS = ("SELECT, INSERT and UPDATE on the tables, USAGE on their sequences and TEMPORARY "
          "on the database")
# The int types staging widens to bigint (see the module docstring).
_NARROW_INTS = ("smallint", "integer")

TopicPartition = tuple[str, int]
# The audit key is drawn first (facts carry it) and the audit row written last, with the counts.
_NEXT_AUDIT_KEY = "SELECT nextval(pg_get_serial_sequence('ctl_audit_log', 'audit_key'))"
_AUDIT_ROW = ("INSERT INTO ctl_audit_log (audit_key, source, rows, detail) "
              "VALUES (%s, %s, %s, %s)")


class _RowsRefused(Exception):
    """A table's rows met a data or constraint error on the fast path (no savepoints)."""


@dataclass(frozen=True)
class Batch:
    """Decoded records, in the order they were consumed, and where reading goes on from.

    ``offsets`` holds, per topic partition the batch read from, the offset after its last
    record (bad records included: they are consumed too). ``first_offsets`` (optional) is only
    recorded in the audit row.
    """

    facts: Sequence[Fact]
    offsets: Mapping[TopicPartition, int]
    first_offsets: Mapping[TopicPartition, int] = field(default_factory=dict)
    bad_records: int = 0


@dataclass
class TableCounts:
    staged: int = 0      # distinct rows after keeping the newest version of each
    inserted: int = 0
    updated: int = 0     # a higher version replaced the stored one

    @property
    def unchanged(self) -> int:
        """Rows the database already held at this version or a higher one, or held with the
        same content at a lower one (or, for dimension rows, at all)."""
        return self.staged - self.inserted - self.updated


@dataclass
class BatchResult:
    audit_key: int
    tables: dict[str, TableCounts]
    rejected: list[tuple[Fact, str]]
    date_time_rows: int
    seconds: float


def prepare_schema(conninfo: str) -> list[str]:
    """Migrates the Info Mart unless it already has every migration this program knows.

    A current schema is only read (an account without DDL rights can run the loader); a
    missing database or an older schema is migrated. Returns the versions applied.
    """
    wanted = {m.version for m in migrations.discover()}
    try:
        with postgres.connect(conninfo, "gim-faust loader") as conn:
            if wanted <= migrations.applied_versions(conn).keys():
                return []
    except postgres.Unreachable:
        pass  # unreachable, or no such database: migrate() tells the two apart
    return migrations.migrate(conninfo)


class Writer:
    """One connection to the Info Mart and the statements of a batch. Not thread-safe: the
    loader uses one writer from one task at a time.

    Every method raises :class:`RetriableError` when the server is unreachable, restarting or
    the transaction lost a deadlock or serialization race (the connection is then dropped and
    the next call reconnects), and :class:`FatalError` when the schema is missing or the
    account lacks a grant (``gim_faust.postgres`` has the whole table).
    """

    def __init__(self, conninfo: str, consumer_group: str,
                 application_name: str = "gim-faust loader") -> None:
        self.conninfo = conninfo
        self.consumer_group = consumer_group
        self.application_name = application_name
        self._conn: psycopg.Connection[Any] | None = None
        self._types: dict[str, list[int]] = {}
        self._statements: dict[str, tuple[bytes, bytes]] = {}
        self._clear: dict[str, bytes] = {}
        self._user_data = UserDataTable()

    # ------------------------------------------------------------------------ connection

    @property
    def connected(self) -> bool:
        return self._conn is not None and not self._conn.closed

    def connect(self) -> None:
        """Opens the connection and its staging tables (idempotent)."""
        if self.connected:
            return
        conn = postgres.connect(self.conninfo, self.application_name,
                                {"statement_timeout": STATEMENT_TIMEOUT_MS})
        try:
            self._prepare(conn)
        except postgres.Error as exc:
            conn.close()
            raise self._translate(exc, "preparing the staging tables") from exc
        self._conn = conn

    def close(self) -> None:
        self._user_data.forget()
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None

    def _prepare(self, conn: psycopg.Connection[Any]) -> None:
        """Creates the session's staging tables and the statements that read them."""
        for table in records.TABLE_ORDER:
            columns = records.COLUMNS[table]
            have = dict(conn.execute(
                "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
                "WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped",
                (table,)).fetchall())
            missing = [c for c in (*columns, "create_audit_key", "update_audit_key")
                       if c not in have]
            if missing:
                raise FatalError(f"table {table} lacks columns {missing}: the Info Mart schema "
                                 f"is older than this loader; run `gim-faust infomart migrate`")
            stage = sql.Identifier(f"gim_stage_{table}")
            definition = sql.SQL(", ").join(
                sql.SQL("{} {}").format(sql.Identifier(c), sql.SQL(
                    "bigint" if have[c] in _NARROW_INTS else have[c]))
                for c in columns)
            conn.execute(sql.SQL("CREATE TEMP TABLE IF NOT EXISTS {} ({}) ON COMMIT DELETE ROWS"
                                 ).format(stage, definition))
            self._types[table] = [row[0] for row in conn.execute(
                "SELECT atttypid FROM pg_attribute WHERE attrelid = %s::regclass "
                "AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
                (f"gim_stage_{table}",)).fetchall()]
            # Rendered once: composing them for every batch costs more than the COPY of a
            # small batch.
            self._statements[table] = (
                sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(
                    stage, sql.SQL(", ").join(map(sql.Identifier, columns))).as_bytes(conn),
                upsert(table, records.ID_COLUMN[table], columns, stage,
                       versioned=table in records.FACT_TABLES).as_bytes(conn))
            self._clear[table] = sql.SQL("DELETE FROM {}").format(stage).as_bytes(conn)

    def _connection(self) -> psycopg.Connection[Any]:
        self.connect()
        assert self._conn is not None
        return self._conn

    def _translate(self, exc: psycopg.Error, doing: str) -> GimError:
        """The error tree's view of a database error; drops a connection that is no use."""
        if self._conn is not None and (self._conn.broken or self._conn.closed
                                       or not isinstance(exc, psycopg.DatabaseError)):
            self.close()
        elif self._conn is not None and self._conn.info.transaction_status not in (
                psycopg.pq.TransactionStatus.IDLE,):
            self.close()  # never reuse a connection in an unknown transaction state
        return postgres.translate(exc, self.conninfo, doing,
                                  grant_hint=f"grant it {GRANTS}")

    # ------------------------------------------------------------------------ reading

    def stored_offsets(self, partitions: Iterable[TopicPartition]) -> dict[TopicPartition, int]:
        """The next offset to read per topic partition, for those the database knows."""
        wanted = set(partitions)
        if not wanted:
            return {}
        try:
            rows = self._connection().execute(
                "SELECT topic, partition, next_offset FROM ctl_kafka_offset "
                "WHERE consumer_group = %s AND topic = ANY(%s)",
                (self.consumer_group, sorted({t for t, _ in wanted}))).fetchall()
        except postgres.Error as exc:
            raise self._translate(exc, "reading the stored offsets") from exc
        return {(t, p): o for t, p, o in rows if (t, p) in wanted}

    # ------------------------------------------------------------------------ writing

    def write(self, batch: Batch) -> BatchResult:
        """Loads ``batch`` and records its offsets, all in one transaction."""
        started = time.perf_counter()
        rows = records.newest(batch.facts)
        try:
            try:
                audit, tables, rejected, added = self._transaction(batch, rows, careful=False)
            except _RowsRefused:
                # Rare: redo the batch with a savepoint per table, bisecting what is refused.
                audit, tables, rejected, added = self._transaction(batch, rows, careful=True)
        except postgres.Error as exc:
            raise self._translate(exc, "loading a batch") from exc
        return BatchResult(audit, tables, rejected, added, time.perf_counter() - started)

    def _transaction(self, batch: Batch, rows: dict[str, list[Fact]], careful: bool
                     ) -> tuple[int, dict[str, TableCounts], list[tuple[Fact, str]], int]:
        conn = self._connection()
        tables: dict[str, TableCounts] = {}
        rejected: list[tuple[Fact, str]] = []
        with conn.transaction(), conn.cursor() as cur:
            audit = cur.execute(_NEXT_AUDIT_KEY).fetchone()[0]  # type: ignore[index]
            added = self._add_date_times(cur, records.date_time_keys(rows))
            for table, facts in rows.items():
                counts = tables[table] = TableCounts(staged=len(facts))
                if careful:
                    self._load_carefully(cur, table, facts, audit, counts, rejected, False)
                    counts.staged -= sum(1 for fact, _ in rejected if fact.table == table)
                else:
                    try:
                        self._load(cur, table, facts, audit, counts)
                    except postgres.ROW_REFUSED as exc:
                        raise _RowsRefused() from exc
            self._load_user_data(cur, rows, audit, tables, rejected, careful)
            aggregate.mark(cur, (fact for table in records.FACT_TABLES
                                 for fact in rows.get(table, ())))
            self._save_offsets(cur, batch.offsets)
            cur.execute(_AUDIT_ROW, (audit, SOURCE, sum(c.staged for c in tables.values()), Jsonb({
                "consumer_group": self.consumer_group,
                "host": socket.gethostname(),
                "records": len(batch.facts) + batch.bad_records,
                "bad_records": batch.bad_records,
                "rejected": len(rejected),
                "partitions": {f"{t}:{p}": [batch.first_offsets.get((t, p)), o]
                               for (t, p), o in sorted(batch.offsets.items())},
                "tables": {t: {"staged": c.staged, "inserted": c.inserted, "updated": c.updated}
                           for t, c in tables.items()},
            })))
        return audit, tables, rejected, added

    def _add_date_times(self, cur: psycopg.Cursor[Any], keys: list[int]) -> int:
        """The date_time rows of ``keys`` not there yet, in key order (one lock order for all
        writers); how many were added.

        ``ON CONFLICT DO NOTHING`` without a target: date_time has two unique keys (the key
        and interval_start_ts), and a writer racing another on the same new interval must be
        let off on whichever of them it meets first.
        """
        if not keys:
            return 0
        cur.execute("INSERT INTO date_time SELECT r.* FROM gim_date_time_rows(%s::bigint[]) r "
                    "WHERE NOT EXISTS (SELECT 1 FROM date_time d "
                    "WHERE d.date_time_key = r.date_time_key) "
                    "ORDER BY r.date_time_key ON CONFLICT DO NOTHING", (keys,))
        return cur.rowcount

    def _load(self, cur: psycopg.Cursor[Any], table: str, facts: list[Fact], audit: int,
              counts: TableCounts) -> None:
        """Binary COPY of ``facts`` into the table's staging table, then the upsert."""
        copy_statement, write_statement = self._statements[table]
        values = records.ROW[table]
        with cur.copy(copy_statement) as copy:
            copy.set_types(self._types[table])
            for fact in facts:
                copy.write_row(values(fact))
        counted = cur.execute(write_statement, {"audit": audit}).fetchone()
        assert counted is not None
        counts.inserted += counted[0]
        counts.updated += counted[1]

    def _load_carefully(self, cur: psycopg.Cursor[Any], table: str, facts: list[Fact],
                        audit: int, counts: TableCounts, rejected: list[tuple[Fact, str]],
                        reused: bool) -> None:
        """:meth:`_load` under a savepoint, halving the rows the server refuses until each
        refused row stands alone; those go to ``rejected``, the others are loaded."""
        try:
            with cur.connection.transaction():
                if reused:   # an earlier chunk of this table left its rows in staging
                    cur.execute(self._clear[table])
                self._load(cur, table, facts, audit, counts)
        except postgres.ROW_REFUSED as exc:
            if len(facts) == 1:
                rejected.append((facts[0], postgres.one_line(exc)))
                return
            middle = len(facts) // 2
            self._load_carefully(cur, table, facts[:middle], audit, counts, rejected, True)
            self._load_carefully(cur, table, facts[middle:], audit, counts, rejected, True)

    def _load_user_data(self, cur: psycopg.Cursor[Any], rows: dict[str, list[Fact]],
                        audit: int, tables: dict[str, TableCounts],
                        rejected: list[tuple[Fact, str]], careful: bool) -> None:
        """irf_user_data of the batch's ended parties (not of a party row just refused);
        carefully, a row at a time, leaving out those the server refuses."""
        refused = {fact.id for fact, _ in rejected}
        parties = [f for f in rows.get("interaction_resource_fact", ()) if f.id not in refused]
        user_rows = user_data_rows.rows(parties)
        if not user_rows:
            return
        counts = tables[user_data_rows.TABLE] = TableCounts(staged=len(user_rows))
        if not careful:
            try:
                counts.inserted, counts.updated = self._user_data.write(cur, user_rows, audit)
            except postgres.ROW_REFUSED as exc:
                raise _RowsRefused() from exc
            return
        by_id = {party.id: party for party in parties}
        for row in user_rows:
            try:
                with cur.connection.transaction():
                    inserted, updated = self._user_data.write(cur, [row], audit)
            except postgres.ROW_REFUSED as exc:
                counts.staged -= 1
                rejected.append((by_id[row["interaction_resource_id"]],
                                 f"{user_data_rows.TABLE}: {postgres.one_line(exc)}"))
                continue
            counts.inserted += inserted
            counts.updated += updated

    def move_offsets(self, offsets: Mapping[TopicPartition, int]) -> None:
        """Sets the next offsets to read, backwards too (``gim-faust replay``, with the
        loader stopped)."""
        try:
            with self._connection().transaction(), self._connection().cursor() as cur:
                self._save_offsets(cur, offsets, forward_only=False)
        except postgres.Error as exc:
            raise self._translate(exc, "moving the offsets") from exc

    def _save_offsets(self, cur: psycopg.Cursor[Any], offsets: Mapping[TopicPartition, int],
                      forward_only: bool = True) -> None:
        if not offsets:
            return
        ordered = sorted(offsets.items())
        cur.execute(
            "INSERT INTO ctl_kafka_offset AS o (consumer_group, topic, partition, next_offset) "
            "SELECT %s, t, p, n FROM unnest(%s::text[], %s::integer[], %s::bigint[]) "
            "AS u(t, p, n) ORDER BY t, p "
            "ON CONFLICT (consumer_group, topic, partition) DO UPDATE "
            "SET next_offset = excluded.next_offset, updated_ts = now() "
            + ("WHERE excluded.next_offset > o.next_offset" if forward_only else ""),
            (self.consumer_group, [t for (t, _), _ in ordered], [p for (_, p), _ in ordered],
             [n for _, n in ordered]))

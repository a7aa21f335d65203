"""gim_faust.postgres without a server: what a message shows of a database, which errors are
retried, the connection parameters every service gets. (Connections, locks and a missing
grant on the real server: tests/integration/test_gim_loader.py, test_maintenance.py.)"""

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from gim_faust import postgres
from gim_faust.errors import FatalError, RetriableError


@pytest.mark.parametrize("conninfo", [
    "postgresql://gim:s3cr3t@db.example:5433/infomart",
    "postgresql://gim@db.example:5433/infomart?password=s3cr3t&sslmode=verify-full",
    "host=db.example port=5433 user=gim password=s3cr3t dbname=infomart",
    "host=db.example port=5433 user=gim password='s3 cr3t' dbname=infomart",
])
def test_a_database_is_described_without_its_password(conninfo: str) -> None:
    shown = postgres.describe(conninfo)
    assert shown == "database 'infomart' on gim@db.example:5433"
    assert "s3" not in shown


def test_an_unparsable_connection_string_is_described_without_echoing_it() -> None:
    assert "s3cr3t" not in postgres.describe("postgresql://gim:s3cr3t@[bad/x?=&")


@pytest.mark.parametrize("error, becomes, says", [
    (psycopg.errors.UndefinedTable("relation x does not exist"), FatalError, "migrate"),
    (psycopg.errors.UndefinedColumn("column y"), FatalError, "migrate"),
    (psycopg.errors.InsufficientPrivilege("permission denied"), FatalError, "grant"),
    (psycopg.errors.AdminShutdown("terminating"), RetriableError, "AdminShutdown"),
    (psycopg.errors.LockNotAvailable("lock timeout"), RetriableError, "LockNotAvailable"),
    (psycopg.errors.DeadlockDetected("deadlock"), RetriableError, "DeadlockDetected"),
    (psycopg.errors.QueryCanceled("statement timeout"), RetriableError, "QueryCanceled"),
    (psycopg.OperationalError("server closed the connection"), RetriableError, "closed"),
    (psycopg.errors.NumericValueOutOfRange("out of range"), RetriableError, "out of range"),
])
def test_one_table_says_what_is_retried(error: Exception, becomes: type, says: str) -> None:
    translated = postgres.translate(error, "postgresql://gim:pw@h:5432/mart", "loading")
    assert type(translated) is becomes
    assert says in str(translated) and "pw" not in str(translated)
    assert str(translated).startswith("loading")


def test_the_migrator_makes_the_unnamed_errors_fatal_but_not_the_connections() -> None:
    url = "postgresql://h/mart"
    assert isinstance(postgres.translate(psycopg.errors.SyntaxError("near x"), url, "migrating",
                                         otherwise=FatalError), FatalError)
    assert isinstance(postgres.translate(psycopg.errors.AdminShutdown("bye"), url, "migrating",
                                         otherwise=FatalError), RetriableError)


def test_connections_get_timeouts_keepalives_and_a_name_unless_the_operator_set_them() -> None:
    params = conninfo_to_dict(postgres.params(
        "postgresql://h/mart?connect_timeout=3&options=-c%20search_path%3Dmart", "gim-faust x",
        {"statement_timeout": 1000, "TimeZone": "UTC"}))
    assert params["connect_timeout"] == "3"
    assert params["application_name"] == "gim-faust x"
    assert params["keepalives_idle"] == str(postgres.KEEPALIVES["keepalives_idle"])
    assert params["options"] == "-c search_path=mart -c statement_timeout=1000 -c TimeZone=UTC"


def test_a_lock_key_is_made_of_eight_bytes() -> None:
    assert postgres.lock_key(b"gimjobs\x01") == int.from_bytes(b"gimjobs\x01", "big")
    with pytest.raises(ValueError):
        postgres.lock_key(b"short")

"""Which database errors a client is told to retry (503), and which are faults (500)."""

from __future__ import annotations

import asyncpg
import asyncpg.exceptions
import pytest
from sqlalchemy.dialects.postgresql.asyncpg import AsyncAdapt_asyncpg_dbapi
from sqlalchemy.exc import DBAPIError

from storage.errors import database_unavailable


def as_sqlalchemy_raises_it(error: Exception) -> DBAPIError:
    """`error` from asyncpg as SQLAlchemy hands it to the service: translated by the
    dialect's table into its DB-API exception, then wrapped in the DBAPIError subclass
    SQLAlchemy picks for that."""
    # SQLAlchemy's dialect module is untyped.
    dbapi = AsyncAdapt_asyncpg_dbapi(asyncpg)  # type: ignore[no-untyped-call]
    translate = dbapi._asyncpg_error_translate
    adapted_class = next(translate[kind] for kind in type(error).__mro__ if kind in translate)
    adapted = adapted_class(str(error), error)
    wrapped = DBAPIError.instance("SELECT 1", None, adapted, dbapi.Error)
    assert isinstance(wrapped, DBAPIError)
    return wrapped


@pytest.mark.parametrize(
    "error",
    [
        # What a connection opened during a PostgreSQL restart meets: a bare DBAPIError.
        asyncpg.exceptions.CannotConnectNowError("the database system is shutting down"),
        asyncpg.exceptions.CannotConnectNowError("the database system is starting up"),
        asyncpg.exceptions.AdminShutdownError("terminating connection due to administrator"),
        asyncpg.exceptions.CrashShutdownError("terminating connection due to crash"),
        asyncpg.exceptions.TooManyConnectionsError("sorry, too many clients already"),
        asyncpg.exceptions.ConnectionFailureError("connection failure"),
    ],
)
def test_a_server_that_cannot_serve_now_is_unavailable(error: Exception) -> None:
    assert database_unavailable(as_sqlalchemy_raises_it(error))


@pytest.mark.parametrize(
    "error",
    [
        asyncpg.exceptions.UniqueViolationError("duplicate key value"),
        asyncpg.exceptions.PostgresSyntaxError("syntax error at or near"),
        asyncpg.exceptions.UndefinedTableError('relation "complaints" does not exist'),
    ],
)
def test_a_statement_the_database_refuses_is_a_fault(error: Exception) -> None:
    assert not database_unavailable(as_sqlalchemy_raises_it(error))

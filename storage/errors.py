"""What storage tells the service layer when the database refuses a write, or lacks a row
it must hold."""

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout


class ConflictError(Exception):
    """Another transaction wrote the same unique row first; retrying will see it."""


class MissingRow(LookupError):
    """A row the database must hold is not there: one that other rows refer to (deleted by
    hand, or a partial restore), or one whose id is asked before it was written."""


# SQLSTATEs of a server that cannot serve now, whatever the statement: a connection
# exception (class 08); shutting down, crashed or starting up (57P01-57P03); too many
# connections (53300). SQLAlchemy wraps some of these in a bare DBAPIError: asyncpg's "the
# database system is shutting down", met when a connection is opened during a restart.
_UNAVAILABLE_STATES = ("08", "57P01", "57P02", "57P03", "53300")


def database_unavailable(error: BaseException) -> bool:
    """Whether `error` says the database cannot be used right now rather than that a
    statement is wrong: unreachable or restarting, the connection lost, SQLite busy past
    its wait or its file unopenable, the pool exhausted. A client told so should try again
    shortly."""
    if isinstance(error, DBAPIError):
        state = getattr(error.orig, "sqlstate", None) or ""
        return (
            error.connection_invalidated
            or isinstance(error, OperationalError | InterfaceError)
            or state.startswith(_UNAVAILABLE_STATES)
        )
    return isinstance(error, PoolTimeout | ConnectionError)


def connection_dropped(error: BaseException) -> bool:
    """Whether `error` is a connection found dropped (the server restarted or cut it) when
    used. SQLAlchemy has then replaced every pooled connection, so the same work tried
    again at once runs on a new one."""
    return isinstance(error, DBAPIError) and error.connection_invalidated

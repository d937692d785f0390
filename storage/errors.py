"""What storage tells the service layer when the database refuses a write, or lacks a row
it must hold."""

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout


class ConflictError(Exception):
    """Another transaction wrote the same unique row first; retrying will see it."""


class MissingRow(LookupError):
    """A row the database must hold is not there: one that other rows refer to (deleted by
    hand, or a partial restore), or one whose id is asked before it was written."""


def database_unavailable(error: BaseException) -> bool:
    """Whether `error` says the database cannot be used right now rather than that a
    statement is wrong: unreachable or restarting, the connection lost, SQLite busy past
    its wait or its file unopenable, the pool exhausted. A client told so should try again
    shortly."""
    if isinstance(error, DBAPIError):
        return error.connection_invalidated or isinstance(error, OperationalError | InterfaceError)
    return isinstance(error, PoolTimeout | ConnectionError)

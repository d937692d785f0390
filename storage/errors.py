"""What storage tells the service layer when the database refuses a write, or lacks a row
it must hold."""


class ConflictError(Exception):
    """Another transaction wrote the same unique row first; retrying will see it."""


class MissingRow(LookupError):
    """A row the database must hold is not there: one that other rows refer to (deleted by
    hand, or a partial restore), or one whose id is asked before it was written."""

"""What storage tells the service layer when the database refuses a write."""


class ConflictError(Exception):
    """Another transaction wrote the same unique row first; retrying will see it."""

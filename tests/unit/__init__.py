"""Unit tests of the pure parts: no database, no server."""

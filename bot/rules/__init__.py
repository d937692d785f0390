"""Routing rules as the service keeps them: the versioned rule book and live router, impact
of a change, and admins' rule work from chat."""

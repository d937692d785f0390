"""Intake: every resident message, whatever its channel, through one path and one
transaction (group commit), and the senders it refuses."""

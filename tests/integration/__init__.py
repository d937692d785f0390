"""Integration tests against real servers: SQLite and PostgreSQL, loopback fakes of the
Telegram Bot API and Twilio, Dovecot, Chromium."""

"""The service layer and entry points: lifecycle, intake, outbox, web app, CLI."""

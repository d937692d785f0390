"""Messaging: what residents and agencies read (templates, buttons, notices), the outbox
dispatcher, delivery reports, opt-outs and tracking links."""

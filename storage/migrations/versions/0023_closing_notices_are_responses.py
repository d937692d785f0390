"""complaints: a closing notice or a rejection with its reason, delivered, is the complaint's first response when nothing came before it, as the service now counts them; the figures of the days of the complaints it changes are counted again

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-07 18:00:00.000000
"""

from collections.abc import Sequence

from alembic import op


revision: str = '0023'
down_revision: str | None = '0022'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The notices sent and not reported lost, of the complaint in the outer query.
_NOTICES = """
    FROM outbox
    WHERE outbox.complaint_id = complaints.id
      AND outbox.kind IN ('closure', 'rejection')
      AND outbox.status = 'sent'
      AND outbox.sent_at IS NOT NULL
      AND (outbox.delivery_status IS NULL
           OR outbox.delivery_status NOT IN ('undelivered', 'failed', 'canceled'))
"""


def upgrade() -> None:
    # Marked first, in the same transaction: the figures' refresh counts their days again.
    op.execute(
        "INSERT INTO changed_complaints (complaint_id) SELECT complaints.id FROM complaints "
        f"WHERE complaints.first_response_at IS NULL AND EXISTS (SELECT 1 {_NOTICES})"
    )
    op.execute(
        f"UPDATE complaints SET first_response_at = (SELECT min(outbox.sent_at) {_NOTICES}) "
        f"WHERE first_response_at IS NULL AND EXISTS (SELECT 1 {_NOTICES})"
    )


def downgrade() -> None:
    # Which responses were notices cannot be told from the ones counted since: kept.
    pass

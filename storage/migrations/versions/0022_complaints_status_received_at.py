"""complaints: ix_complaints_status_received_at replaces ix_complaints_status, so a listing by status walks one status's complaints newest first and stops at its limit

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-07 14:00:00.000000
"""

from collections.abc import Sequence

from alembic import op


revision: str = '0022'
down_revision: str | None = '0021'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        'ix_complaints_status_received_at',
        'complaints',
        ['status', 'received_at', 'id'],
        unique=False,
    )
    op.drop_index('ix_complaints_status', table_name='complaints')


def downgrade() -> None:
    op.create_index('ix_complaints_status', 'complaints', ['status'], unique=False)
    op.drop_index('ix_complaints_status_received_at', table_name='complaints')

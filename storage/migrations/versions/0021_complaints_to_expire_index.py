"""complaints: ix_complaints_to_expire, the finished complaints whose texts retention has yet to blank

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-07 13:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0021'
down_revision: str | None = '0020'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_NOT_EXPIRED = 'expired_at IS NULL OR expired_at < closed_at'


def upgrade() -> None:
    op.create_index(
        'ix_complaints_to_expire',
        'complaints',
        ['status', 'closed_at'],
        unique=False,
        sqlite_where=sa.text(_NOT_EXPIRED),
        postgresql_where=sa.text(_NOT_EXPIRED),
    )


def downgrade() -> None:
    op.drop_index('ix_complaints_to_expire', table_name='complaints')

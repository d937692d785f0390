"""outbox: parts_sent and part_anchor, how far earlier attempts got with a message sent in parts

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07 11:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0020'
down_revision: str | None = '0019'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('parts_sent', sa.Integer(), nullable=False, server_default='0')
        )
        batch_op.add_column(sa.Column('part_anchor', sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_column('part_anchor')
        batch_op.drop_column('parts_sent')

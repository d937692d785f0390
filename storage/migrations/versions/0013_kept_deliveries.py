"""kept deliveries: webhooks, updates and mails kept until processed; dead letters

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 02:27:56.299548
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.models


revision: str = '0013'
down_revision: str | None = '0012'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'kept_deliveries',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('channel', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column('key', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.Column('payload', sa.LargeBinary(), nullable=False),
        sa.Column('received_at', storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column('state', sa.Enum('pending', 'done', 'dead', 'dropped', name='deliverystate', native_enum=False, length=10), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('next_attempt_at', storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column('last_error', sa.Text(), nullable=True),
        sa.Column('settled_at', storage.models.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('channel', 'key'),
    )
    with op.batch_alter_table('kept_deliveries', schema=None) as batch_op:
        batch_op.create_index('ix_kept_deliveries_due', ['state', 'next_attempt_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_kept_deliveries_settled_at'), ['settled_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('kept_deliveries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_kept_deliveries_settled_at'))
        batch_op.drop_index('ix_kept_deliveries_due')
    op.drop_table('kept_deliveries')

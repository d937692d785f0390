"""refused messages kept whole, and mailbox pollers' cursors

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 21:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.models


revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'refused_messages',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('channel', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column('provider_message_id', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.Column('sender', sqlmodel.sql.sqltypes.AutoString(length=320), nullable=True),
        sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column('raw', sa.LargeBinary(), nullable=False),
        sa.Column('received_at', storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column('created_at', storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('channel', 'provider_message_id'),
    )
    with op.batch_alter_table('refused_messages', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_refused_messages_created_at'), ['created_at'], unique=False)
    op.create_table(
        'mailbox_cursors',
        sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.Column('uidvalidity', sa.BigInteger(), nullable=False),
        sa.Column('last_uid', sa.BigInteger(), nullable=False),
        sa.Column('updated_at', storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('name'),
    )


def downgrade() -> None:
    op.drop_table('mailbox_cursors')
    with op.batch_alter_table('refused_messages', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_refused_messages_created_at'))
    op.drop_table('refused_messages')

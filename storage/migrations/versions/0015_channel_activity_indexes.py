"""channel activity: each channel's latest inbound message and latest send, read from an index

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 02:50:30.010494
"""

from collections.abc import Sequence

from alembic import op


revision: str = '0015'
down_revision: str | None = '0014'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.create_index('ix_messages_channel_direction_created', ['channel', 'direction', 'created_at'], unique=False)

    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.create_index('ix_outbox_channel_sent', ['channel', 'sent_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_channel_sent')

    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_index('ix_messages_channel_direction_created')

"""public figures: per agency and day counts, marks of changed complaints, receipt index

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07 02:58:57.372646
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0016'
down_revision: str | None = '0015'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'agency_days',
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('agency_id', sa.Integer(), nullable=False),
        sa.Column('received', sa.Integer(), nullable=False),
        sa.Column('answered', sa.Integer(), nullable=False),
        sa.Column('answered_in_time', sa.Integer(), nullable=False),
        sa.Column('open', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['agency_id'], ['agencies.id']),
        sa.PrimaryKeyConstraint('day', 'agency_id'),
    )
    op.create_table(
        'changed_complaints',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('complaint_id', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['complaint_id'], ['complaints.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('complaints', schema=None) as batch_op:
        batch_op.create_index(
            'ix_complaints_received_at',
            ['received_at', 'id', 'agency_id', 'first_response_at'],
            unique=False,
        )
    # Every complaint filed before counts: the first refresh counts their days.
    op.execute('INSERT INTO changed_complaints (complaint_id) SELECT id FROM complaints')


def downgrade() -> None:
    with op.batch_alter_table('complaints', schema=None) as batch_op:
        batch_op.drop_index('ix_complaints_received_at')
    op.drop_table('changed_complaints')
    op.drop_table('agency_days')

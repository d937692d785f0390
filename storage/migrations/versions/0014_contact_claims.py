"""contact claims: web contacts kept as unverified claims with a one-time code

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 02:50:06.959231
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.models


revision: str = '0014'
down_revision: str | None = '0013'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'contact_claims',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('complaint_id', sa.Integer(), nullable=False),
        sa.Column('channel', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column('address', sqlmodel.sql.sqltypes.AutoString(length=320), nullable=False),
        sa.Column('code_hash', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column('code_expires_at', storage.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column('codes_sent', sa.Integer(), nullable=False),
        sa.Column('last_code_at', storage.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column('failed_tries', sa.Integer(), nullable=False),
        sa.Column('verified_at', storage.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column('created_at', storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['complaint_id'], ['complaints.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('complaint_id'),
    )


def downgrade() -> None:
    op.drop_table('contact_claims')

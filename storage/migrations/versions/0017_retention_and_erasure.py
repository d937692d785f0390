"""retention and erasure: complaints' texts expired, contact claims erased

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07 03:34:39.516945
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.models


revision: str = '0017'
down_revision: str | None = '0016'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('complaints', schema=None) as batch_op:
        batch_op.add_column(sa.Column('expired_at', storage.models.UTCDateTime(timezone=True), nullable=True))

    with op.batch_alter_table('contact_claims', schema=None) as batch_op:
        batch_op.add_column(sa.Column('erased_at', storage.models.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('contact_claims', schema=None) as batch_op:
        batch_op.drop_column('erased_at')

    with op.batch_alter_table('complaints', schema=None) as batch_op:
        batch_op.drop_column('expired_at')

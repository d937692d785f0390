"""outbox: language, the language a queued message is written in (a mail's HTML declares it)

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-07 20:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = '0024'
down_revision: str | None = '0023'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Rows queued before it have none, and go out in the channel's default language.
    with op.batch_alter_table('outbox') as batch:
        batch.add_column(sa.Column('language', sqlmodel.sql.sqltypes.AutoString(length=2), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('outbox') as batch:
        batch.drop_column('language')

"""soft delete for users

Revision ID: 3c4d5e6f7a8b
Revises: 2b3c4d5e6f7a
Create Date: 2024-03-03 09:30:00.000000

"""
from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = "3c4d5e6f7a8b"
down_revision = "2b3c4d5e6f7a"
branch_labels = None
depends_on = ""


def upgrade():
    op.add_column("users", sa.Column("deleted_at", sa.DateTime, nullable=True))


def downgrade():
    op.drop_column("users", "deleted_at")

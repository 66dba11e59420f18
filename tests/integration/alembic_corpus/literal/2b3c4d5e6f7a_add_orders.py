"""add orders

Orders reference users; the foreign key is added without validation on large tables and validated in a later revision, which is why this line is much longer than eighty characters.

	A tab-indented line.

Revision ID: 2b3c4d5e6f7a
Revises: 1a2b3c4d5e6f
Create Date: 2024-03-02 08:00:00.000001

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '2b3c4d5e6f7a'
down_revision = ('1a2b3c4d5e6f',)
branch_labels = ()
depends_on = None


def upgrade():
    op.create_table("orders", sa.Column("id", sa.Integer, primary_key=True))


def downgrade():
    op.drop_table("orders")

"""start the billing branch

Billing lives on a branch of its own, labelled, so that it can be upgraded
separately (alembic upgrade billing@head).

Revision ID: 4d5e6f7a8b9c
Revises: 2b3c4d5e6f7a
Create Date: 2024-03-04 12:00:00.000000

"""
from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = '4d5e6f' '7a8b9c'
down_revision = '1a2b3c4d5e6f'
branch_labels = ('billing',)
depends_on = None

# the template's block was pasted twice when the branch was rebased: Python
# keeps the last assignment of each name
down_revision = '2b3c4d5e6f7a'
depends_on = None


def upgrade():
    op.create_table("invoices", sa.Column("id", sa.Integer, primary_key=True))


def downgrade():
    op.drop_table("invoices")

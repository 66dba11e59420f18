"""Index items by owner, without locking the table

Revision ID: 1a31ce608336
Revises: 9c0a54914c78
Create Date: 2026-03-01 12:00:00.000000

"""
from alembic import op

# revision identifiers, used by Alembic.
revision = '1a31ce608336'
down_revision = '9c0a54914c78'
branch_labels = None
depends_on = None


def upgrade():
    with op.get_context().autocommit_block():
        op.create_index('ix_item_owner_id', 'item', ['owner_id'], postgresql_concurrently=True)


def downgrade():
    with op.get_context().autocommit_block():
        op.drop_index('ix_item_owner_id', table_name='item', postgresql_concurrently=True)

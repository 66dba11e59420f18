"""Add item description, filled from the title

Revision ID: 9c0a54914c78
Revises: e2412789c190
Create Date: 2026-02-10 09:30:00.000000

"""
from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = '9c0a54914c78'
down_revision = 'e2412789c190'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('item', sa.Column('description', sa.String(length=255), nullable=True))
    item = sa.table('item', sa.column('title', sa.String), sa.column('description', sa.String))
    op.execute(item.update().where(item.c.description == None).values(description=item.c.title))
    op.alter_column('item', 'description', existing_type=sa.String(length=255),
                    nullable=False)


def downgrade():
    op.drop_column('item', 'description')

"""merge billing and soft delete

Revision ID: 5e6f7a8b9c0d
Revises: 3c4d5e6f7a8b, 4d5e6f7a8b9c
Create Date: 2024-03-05 15:45:00.000000

"""
from alembic import op

# revision identifiers, used by Alembic.
revision = '5e6f7a8b9c0d'
down_revision = ('3c4d5e6f7a8b', '4d5e6f7a8b9c')
branch_labels = None
depends_on = ('1a2b3c4d5e6f',)


def upgrade():
    pass


def downgrade():
    pass

"""create users table

The accounts service used to keep its users in a JSON column of the tenants
table; this revision moves them into a table of their own so that they can
be indexed, and so that the login path stops loading every tenant's blob.

    Indented notes are kept as they are written, trailing spaces too.   
Unicode: café, naïve, 日本語.

Revision ID: 1a2b3c4d5e6f
Revises: 
Create Date: 2024-03-01 10:11:12.131415

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '1a2b3c4d5e6f'
down_revision: Union[str, None] = None
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("email", sa.String(255), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("users")

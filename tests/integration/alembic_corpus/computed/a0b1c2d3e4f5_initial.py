"""initial

Revision ID: a0b1c2d3e4f5
Revises:
Create Date: 2023-01-01 00:00:00.000000

"""

revision = 'a0b1c2d3e4f5'
down_revision = None


def upgrade():
    pass

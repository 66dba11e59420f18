"""start the contract branch

Revision ID: c0ffee00c001
Revises: a0b1c2d3e4f5
Create Date: 2023-01-02 00:00:00.000000

"""

from corpus_pkg import cli

# revision identifiers, used by Alembic.
revision = 'c0ffee00c001'
down_revision = 'a0b1c2d3e4f5'
branch_labels = (cli.CONTRACT_BRANCH,)


def upgrade():
    pass

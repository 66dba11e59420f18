"""start the expand branch

Depends on the contract branch's first revision when the plugin that
provides it is installed.

Revision ID: e0e0e0e0e001
Revises: a0b1c2d3e4f5
Create Date: 2023-01-03 00:00:00.000000

"""

from corpus_pkg import cli

# revision identifiers, used by Alembic.
revision = 'e0e0e0e0e001'
down_revision = 'a0b1c2d3e4f5'
branch_labels = (cli.EXPAND_BRANCH,)

try:
    import corpus_pkg.cli  # noqa: F401

    depends_on = ('c0ffee00c001',)
except ImportError:
    depends_on = None


def upgrade():
    pass

# A hand-written revision without a docstring.
from alembic import op

revision = '6f7a8b9c0d1e'
down_revision = '5e6f7a8b9c0d'
branch_labels = None
depends_on = None


def upgrade():
    op.execute("CREATE INDEX ix_users_email ON users (email)")


def downgrade():
    op.execute("DROP INDEX ix_users_email")

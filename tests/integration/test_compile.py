"""`prestart compile` and runs from compiled SQL (SPEC §7.5), with the real
/usr/bin/alembic 1.8 and SQLAlchemy as the reference.

Deploy-time runs use a PATH of one empty directory: no Python, no alembic.
Runs that may delegate use an Alembic wrapper (PRESTART_ALEMBIC_COMMAND)
that records each call, so a test knows how often and how Alembic ran.
"""
import os
import re
import subprocess
import textwrap
import time

import pytest

from compile_support import ALEMBIC, AlembicApp, state
from harness import PASSWORD, Database, describe, prestart_bin

# The seeds' own shapes, as autogenerate and a careful author write them.
USERS_UP = '''\
op.create_table('users',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('email', sa.String(length=255), nullable=False),
    sa.Column('full_name', sa.String(length=255), nullable=True),
    sa.Column('is_active', sa.Boolean(), server_default=sa.text('true'), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False),
    sa.PrimaryKeyConstraint('id')
)
op.create_index(op.f('ix_users_email'), 'users', ['email'], unique=True)
'''
USERS_DOWN = '''\
op.drop_index(op.f('ix_users_email'), table_name='users')
op.drop_table('users')
'''
SEED_UP = '''\
users = sa.table('users', sa.column('id', sa.Integer), sa.column('email', sa.String),
                 sa.column('full_name', sa.String))
op.bulk_insert(users, [
    {'id': 1, 'email': 'ada@example.com', 'full_name': "Ada O'Hara"},
    {'id': 2, 'email': 'bob@example.com', 'full_name': None},
    {'id': 3, 'email': 'cy@example.com', 'full_name': '100% \\\\ sure'},
])
'''
SEED_DOWN = '''\
users = sa.table('users', sa.column('id', sa.Integer))
op.execute(users.delete().where(users.c.id.in_([1, 2, 3])))
'''
# safe column addition: nullable, fill, then NOT NULL (PostgreSQL can alter
# in place; SQLite would need batch mode, which needs the live table)
ADD_PG = '''\
op.add_column('users', sa.Column('plan', sa.String(length=20), nullable=True))
op.execute("UPDATE users SET plan = 'free' WHERE plan IS NULL")
op.alter_column('users', 'plan', existing_type=sa.String(length=20), nullable=False,
                server_default='free')
'''
ADD_SQLITE = '''\
op.add_column('users', sa.Column('plan', sa.String(length=20), nullable=True))
op.execute("UPDATE users SET plan = 'free' WHERE plan IS NULL")
'''
ADD_DOWN = "op.drop_column('users', 'plan')\n"
RENAME_UP = ("op.alter_column('users', 'full_name', new_column_name='display_name', "
             "existing_type=sa.String(length=255))\n")
RENAME_DOWN = ("op.alter_column('users', 'display_name', new_column_name='full_name', "
               "existing_type=sa.String(length=255))\n")
DATA_UP = '''\
users = sa.table('users', sa.column('display_name', sa.String), sa.column('email', sa.String))
op.execute(users.update().where(users.c.display_name == None)
           .values(display_name=sa.func.lower(users.c.email)))
op.execute(users.update().where(users.c.email.like('%@example.com')).values(plan='team'))
'''
DATA_DOWN = '''\
users = sa.table('users', sa.column('display_name', sa.String), sa.column('email', sa.String))
op.execute(users.update().where(users.c.display_name == users.c.email).values(display_name=None))
'''

SEED_IDS = ["a1b2c3d4e5f6", "b2c3d4e5f6a1", "c3d4e5f6a1b2", "d4e5f6a1b2c3", "e5f6a1b2c3d4"]


def seed_app(root, db, **kw):
    app = AlembicApp(root, db.url, **kw)
    a, b, c, d, e = SEED_IDS
    app.rev(a, None, USERS_UP, USERS_DOWN, "create users table")
    app.rev(b, a, SEED_UP, SEED_DOWN, "seed users")
    app.rev(c, b, ADD_PG if db.kind == "pg" else ADD_SQLITE, ADD_DOWN, "add plan")
    app.rev(d, c, RENAME_UP, RENAME_DOWN, "rename full_name")
    # the data migration reads plan through table(): give it the column
    app.rev(e, d, DATA_UP.replace("sa.column('email', sa.String))",
                                  "sa.column('email', sa.String), sa.column('plan', sa.String))"),
            DATA_DOWN, "fill display names")
    return app


def dialect(db):
    return "postgresql" if db.kind == "pg" else "sqlite"


def recorder(app):
    """An alembic command that logs its arguments, then runs the real one."""
    calls = app.root / "alembic-calls.txt"
    wrapper = app.root / "alembic-wrapper"
    wrapper.write_text('#!/bin/sh\necho "$*" >> "%s"\nexec %s "$@"\n' % (calls, ALEMBIC))
    wrapper.chmod(0o755)

    def recorded():
        # -c: alembic.ini, or the copy of it that names the test's database
        # (its sqlalchemy.url is another one)
        return [re.sub(r"^-c (alembic\.ini|/proc/\d+/fd/\d+) ", "", ln)
                for ln in calls.read_text().splitlines()] if calls.exists() else []
    return str(wrapper), recorded


def test_seed_shapes_run_without_python_like_alembic(db, make_db, tmp_path):
    app = seed_app(tmp_path / "app", db)
    # Python as a build stage runs it: free to write bytecode
    env = app.env(url=False)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    cp = app.compile(dialect(db), env=env)
    written = cp.stdout.split()
    assert [os.path.basename(p) for p in written] == \
        ["%s.%s.sql" % (r, dialect(db)) for r in sorted(SEED_IDS)]
    text = (app.compiled / ("%s.%s.sql" % (SEED_IDS[0], dialect(db)))).read_text()
    assert text.startswith("-- Revision ID: %s\n-- Revises:\n" % SEED_IDS[0])
    assert "-- Message: create users table\n" in text
    assert "-- Transactional: true\n" in text
    assert "-- Source: versions/%s_create_users_table.py sha256:" % SEED_IDS[0] in text
    assert "-- Compiled By: alembic 1.8.1\n" in text
    assert "CREATE UNIQUE INDEX ix_users_email ON users (email);" in text
    assert "alembic_version" not in text and "BEGIN" not in text
    assert not (app.compiled / ("online-only.%s.txt" % dialect(db))).exists()
    # the project is read, not written: no __pycache__ for a build stage
    # to copy into the migration image
    assert not list(app.root.rglob("__pycache__")), list(app.root.rglob("__pycache__"))

    # the reference: Alembic itself, online
    ref = make_db()
    ref_app = AlembicApp(tmp_path / "ref", ref.url)
    for f in app.versions.glob("*.py"):
        (ref_app.versions / f.name).write_text(f.read_text())

    steps = [("upgrade", SEED_IDS[1]), ("upgrade", "head"), ("downgrade", SEED_IDS[2]),
             ("upgrade", "heads"), ("downgrade", "base"), ("upgrade", "head")]
    for verb, target in steps:
        ref_app.alembic(verb, target)
        cp = app.prestart("--require-compiled", verb, target, nopython=True)
        assert cp.returncode == 0, describe(cp)
        assert "alembic" not in cp.stdout.replace("alembic_version", "")
        got, want = state(db, skip={"created_at"}), state(ref, skip={"created_at"})
        assert got == want, "after %s %s" % (verb, target)
    assert db.versions() == [SEED_IDS[-1]]
    rows = db.query("SELECT email, display_name, plan FROM users ORDER BY id")
    assert rows == [("ada@example.com", "Ada O'Hara", "team"),
                    ("bob@example.com", "bob@example.com", "team"),
                    ("cy@example.com", "100% \\ sure", "team")]

    # compiling again changes nothing
    before = {p: p.stat().st_mtime_ns for p in app.compiled.iterdir()}
    time.sleep(0.01)
    cp = app.compile(dialect(db))
    assert {p: p.stat().st_mtime_ns for p in app.compiled.iterdir()} == before
    # stdout lists the files written: none; the log says they are unchanged,
    # and shows no internal command line
    assert cp.stdout == "", describe(cp)
    assert "; unchanged)" in cp.stderr and "sys.dont_write_bytecode" not in cp.stderr, \
        describe(cp)


def test_run_from_compiled_is_one_transaction_and_restarts_fast(db, tmp_path):
    app = seed_app(tmp_path / "app", db)
    app.compile(dialect(db))
    cp = app.prestart("run", "--", "/bin/sh", "-c", 'printf %s "$PRESTART_REVISION" > rev.txt',
                      nopython=True)
    assert cp.returncode == 0, describe(cp)
    assert (app.root / "rev.txt").read_text() == SEED_IDS[-1]
    assert "upgrade from <base> to %s: 5 steps" % SEED_IDS[-1] in cp.stdout
    assert "[5/5] %s fill display names" % SEED_IDS[-1] in cp.stdout
    cp = app.prestart("run", nopython=True)
    assert cp.returncode == 0 and "already at %s" % SEED_IDS[-1] in cp.stdout, describe(cp)


def test_failure_in_compiled_sql_rolls_back_and_names_the_file(db, tmp_path):
    app = AlembicApp(tmp_path / "app", db.url)
    app.rev("f1", None, USERS_UP, USERS_DOWN, "users")
    app.rev("f2", "f1", "op.execute('SELECT * FROM nowhere')", "", "broken")
    app.compile(dialect(db))
    cp = app.prestart("upgrade", nopython=True)
    assert cp.returncode == 1, describe(cp)
    assert "alembic/compiled/f2.%s.sql:12:" % dialect(db) in cp.stderr
    assert "nowhere" in cp.stderr
    assert db.versions() == [] and "users" not in db.tables()


def test_upgrade_sql_uses_compiled_files_without_python(db, tmp_path):
    app = seed_app(tmp_path / "app", db)
    app.compile(dialect(db))
    cp = app.prestart("upgrade", "--sql", nopython=True)
    assert cp.returncode == 0, describe(cp)
    assert "CREATE UNIQUE INDEX ix_users_email ON users (email);" in cp.stdout
    assert "-- Running upgrade %s -> %s" % (SEED_IDS[0], SEED_IDS[1]) in cp.stdout
    assert cp.stdout.count("BEGIN;") == 1
    cp = app.prestart("downgrade", "--sql", "%s:base" % SEED_IDS[-1], nopython=True)
    assert cp.returncode == 0, describe(cp)
    assert "DROP TABLE users;" in cp.stdout
    # a stale file: --sql goes to Alembic, which is not there
    path = next(app.versions.glob("%s_*.py" % SEED_IDS[2]))
    path.write_text(path.read_text() + "\n# edited\n")
    cp = app.prestart("upgrade", "--sql", nopython=True)
    assert cp.returncode != 0
    cp = app.prestart("upgrade", "--sql", PRESTART_ALEMBIC_COMMAND=ALEMBIC)
    assert cp.returncode == 0, describe(cp)
    assert cp.stdout == app.alembic("upgrade", "head", "--sql").stdout
    cp = app.prestart("--require-compiled", "upgrade", "--sql", nopython=True)
    assert cp.returncode == 3, describe(cp)
    assert SEED_IDS[2] in cp.stderr and "changed since it was compiled" in cp.stderr


def test_stale_file_is_delegated_or_refused(db, tmp_path):
    app = seed_app(tmp_path / "app", db)
    app.compile(dialect(db))
    wrapper, recorded = recorder(app)
    path = next(app.versions.glob("%s_*.py" % SEED_IDS[2]))
    path.write_text(path.read_text().replace("'free'", "'basic'"))

    cp = app.prestart("--require-compiled", "run", nopython=True)
    assert cp.returncode == 3, describe(cp)
    assert "%s (%s) has no fresh compiled SQL: %s changed since it was compiled" % (
        SEED_IDS[2], "alembic/versions/" + path.name, "alembic/versions/" + path.name) \
        in cp.stderr
    assert "require_compiled: 1 revision without fresh compiled SQL" in cp.stderr
    # one failure, one error line
    assert len([ln for ln in cp.stderr.splitlines() if "error:" in ln]) == 1, describe(cp)
    assert db.versions() == [] and "users" not in db.tables()

    cp = app.prestart("run", PRESTART_ALEMBIC_COMMAND=wrapper)
    assert cp.returncode == 0, describe(cp)
    assert recorded() == ["upgrade %s" % SEED_IDS[2]]
    assert "upgrade of 5 steps: 4 from compiled SQL, 1 through alembic, in 3 runs" in cp.stdout
    assert db.versions() == [SEED_IDS[-1]]
    assert {r[0] for r in db.query("SELECT plan FROM users")} == {"team"}
    # the edited source ran: its NOT NULL default (PostgreSQL) is 'basic'
    if db.kind == "pg":
        assert db.query("SELECT column_default FROM information_schema.columns "
                        "WHERE table_name = 'users' AND column_name = 'plan'") == \
            [("'basic'::character varying",)]

    # downgrade: the stale one through Alembic again, the others natively
    cp = app.prestart("downgrade", "base", PRESTART_ALEMBIC_COMMAND=wrapper)
    assert cp.returncode == 0, describe(cp)
    assert recorded()[1:] == ["downgrade %s" % SEED_IDS[1]]
    assert db.versions() == [] and "users" not in db.tables()


ONLINE_ONLY_UP = '''\
conn = op.get_bind()
for (n,) in conn.execute(sa.text("SELECT count(*) FROM users")):
    op.execute("UPDATE users SET full_name = 'n=%d'" % n)
'''


def test_online_only_revisions(db, tmp_path):
    app = AlembicApp(tmp_path / "app", db.url)
    app.rev("o1", None, USERS_UP, USERS_DOWN, "users")
    app.rev("o2", "o1", ONLINE_ONLY_UP, "", "reads the table")
    app.rev("o3", "o2", "with op.batch_alter_table('users') as b:\n"
            "    b.alter_column('full_name', existing_type=sa.String(255), nullable=False)",
            "with op.batch_alter_table('users') as b:\n"
            "    b.alter_column('full_name', existing_type=sa.String(255), nullable=True)",
            "batch")
    # (SQLite's driver has no transaction open to commit there)
    app.rev("o4", "o3", ("op.execute('COMMIT')\n" if db.kind == "pg" else "") +
            "op.execute('CREATE TABLE t4 (x int)')", "op.execute('DROP TABLE t4')",
            "commits itself")
    app.rev("o5", "o4",
            "if context.is_offline_mode():\n    pass\nelse:\n    op.execute('CREATE TABLE t5 (x int)')",
            "op.execute('DROP TABLE IF EXISTS t5')", "offline check",
            imports="from alembic import context")
    app.rev("o6", "o5", "op.create_table('t6', sa.Column('id', sa.Integer, primary_key=True))",
            "op.drop_table('t6')", "plain")
    cp = app.compile(dialect(db))
    listed = (app.compiled / ("online-only.%s.txt" % dialect(db))).read_text().splitlines()
    reasons = dict(line.split(" ", 1) for line in listed)
    assert sorted(reasons) == ["o2", "o3", "o5"] if db.kind == "sqlite" else ["o2", "o4", "o5"]
    assert reasons["o2"].startswith("reads the database")
    if db.kind == "pg":
        assert reasons["o4"] == "controls transactions itself (COMMIT)"
    assert "is_offline_mode" in reasons["o5"]
    if db.kind == "sqlite":
        assert "batch_alter_table() needs to reflect table 'users'" in reasons["o3"]
    assert "o2 (alembic/versions/o2_reads_the_table.py) is online-only for %s" % dialect(db) \
        in cp.stderr
    assert not (app.compiled / ("o2.%s.sql" % dialect(db))).exists()
    assert (app.compiled / ("o6.%s.sql" % dialect(db))).exists()

    cp = app.prestart("--require-compiled", "upgrade", nopython=True)
    assert cp.returncode == 3, describe(cp)
    for rev in reasons:
        assert "%s (alembic/versions/" % rev in cp.stderr
    assert "online-only: reads the database" in cp.stderr
    assert db.versions() == []

    # with Python: the online-only ones through Alembic, in plan order
    wrapper, recorded = recorder(app)
    cp = app.prestart("upgrade", PRESTART_ALEMBIC_COMMAND=wrapper)
    assert cp.returncode == 0, describe(cp)
    if db.kind == "sqlite":
        assert recorded() == ["upgrade o3", "upgrade o5"]
    else:
        assert recorded() == ["upgrade o2", "upgrade o5"]
    assert db.versions() == ["o6"]
    assert {"t4", "t5", "t6"} <= db.tables()

    # a compile that must leave nothing to Alembic fails the build
    cp = app.prestart("--require-compiled", "compile", "--dialect", dialect(db), url=False)
    assert cp.returncode == 3, describe(cp)
    assert "cannot be rendered offline" in cp.stderr


def test_downgrade_alone_left_to_alembic(db, tmp_path):
    """An irreversible revision (its downgrade raises) or one whose downgrade
    reads the database: the upgrade is compiled, the downgrade is Alembic's."""
    app = AlembicApp(tmp_path / "app", db.url)
    app.rev("d1", None, USERS_UP, USERS_DOWN, "users")
    app.rev("d2", "d1", SEED_UP, "raise NotImplementedError('no way back')", "seed")
    cp = app.compile(dialect(db))
    text = (app.compiled / ("d2.%s.sql" % dialect(db))).read_text()
    assert "-- Downgrade: online-only: NotImplementedError: no way back\n" in text
    assert "-- +upgrade\n" in text and "-- +downgrade" not in text
    assert "d2 (alembic/versions/d2_seed.py): its downgrade is online-only" in cp.stderr
    app.ok("--require-compiled", "upgrade", nopython=True)
    assert db.versions() == ["d2"]
    cp = app.prestart("--require-compiled", "downgrade", "base", nopython=True)
    assert cp.returncode == 3, describe(cp)
    assert "d2 (alembic/versions/d2_seed.py) has no fresh compiled SQL: its downgrade is " \
        "online-only: NotImplementedError: no way back" in cp.stderr
    assert db.versions() == ["d2"]
    wrapper, recorded = recorder(app)
    cp = app.prestart("downgrade", "base", PRESTART_ALEMBIC_COMMAND=wrapper)
    assert cp.returncode == 1, describe(cp)
    assert recorded() == ["downgrade d1"] and "no way back" in cp.stderr
    assert db.versions() == ["d2"]


AUTOCOMMIT_UP = '''\
with op.get_context().autocommit_block():
    op.create_index('ix_t_x', 't', ['x'], postgresql_concurrently=True)
'''


def test_autocommit_block_is_transactional_false(db, tmp_path):
    app = AlembicApp(tmp_path / "app", db.url)
    app.rev("k1", None, "op.create_table('t', sa.Column('x', sa.Integer))", "op.drop_table('t')")
    app.rev("k2", "k1", AUTOCOMMIT_UP, "op.drop_index('ix_t_x', table_name='t')", "index")
    app.rev("k3", "k2", AUTOCOMMIT_UP.replace("ix_t_x", "ix_t_y"),
            "op.drop_index('ix_t_y', table_name='t')\nop.execute('SELECT 1')", "two down")
    app.compile(dialect(db))
    text = (app.compiled / ("k2.%s.sql" % dialect(db))).read_text()
    assert "-- Transactional: false\n" in text
    if db.kind == "pg":
        assert "CREATE INDEX CONCURRENTLY ix_t_x ON t (x);" in text
    assert (app.compiled / ("online-only.%s.txt" % dialect(db))).read_text().startswith(
        "k3 one direction runs in autocommit_block()")
    cp = app.prestart("--require-compiled", "upgrade", "k2", nopython=True)
    assert cp.returncode == 0, describe(cp)
    assert "ix_t_x" in db.indexes()
    cp = app.prestart("--require-compiled", "downgrade", "base", nopython=True)
    assert cp.returncode == 0, describe(cp)
    assert db.tables() <= {"alembic_version"}


def test_env_py_reading_database_url_only(db, tmp_path):
    """env.py takes its URL from DATABASE_URL and nowhere else (a KeyError
    without it): compile needs no database, only the dialect."""
    env_py = textwrap.dedent('''\
        import os
        from alembic import context
        from sqlalchemy import create_engine, pool

        url = os.environ["DATABASE_URL"]
        if context.is_offline_mode():
            context.configure(url=url, literal_binds=True)
            with context.begin_transaction():
                context.run_migrations()
        else:
            engine = create_engine(url, poolclass=pool.NullPool)
            with engine.connect() as connection:
                context.configure(connection=connection)
                with context.begin_transaction():
                    context.run_migrations()
        ''')
    app = AlembicApp(tmp_path / "app", db.url, env_py=env_py, ini_url="")
    app.rev("u1", None, USERS_UP, USERS_DOWN, "users")
    app.rev("u2", "u1", SEED_UP, SEED_DOWN, "seed")
    cp = app.prestart("compile", url=False)
    assert cp.returncode == 2, describe(cp)
    assert "compile needs a SQL dialect" in cp.stderr
    app.compile(dialect(db))
    # the dialect may also come from the deployment's URL: nothing connects
    cp = app.prestart("compile", url="postgresql://nobody@192.0.2.1:1/none"
                      if db.kind == "pg" else "sqlite:////nonexistent/dir/x.db")
    assert cp.returncode == 0, describe(cp)
    app.ok("--require-compiled", "upgrade", nopython=True)
    assert db.query("SELECT count(*) FROM users") == [(3,)]


def test_placeholder_url_in_alembic_ini(db, tmp_path):
    """alembic init's own env.py and alembic.ini (sqlalchemy.url =
    driver://user:pass@localhost/dbname): compile renders through
    sqlalchemy.url, which it sets; the deployment gives DATABASE_URL."""
    cp = subprocess.run([ALEMBIC, "init", "alembic"], cwd=str(tmp_path), capture_output=True,
                        text=True)
    assert cp.returncode == 0, cp.stderr
    app_root = tmp_path
    versions = app_root / "alembic" / "versions"
    (versions / "p1_users.py").write_text(textwrap.dedent('''\
        """users

        Revision ID: p1
        Revises:
        """
        from alembic import op
        import sqlalchemy as sa

        revision = 'p1'
        down_revision = None
        branch_labels = None
        depends_on = None


        def upgrade():
            op.create_table('users', sa.Column('id', sa.Integer(), nullable=False),
                            sa.Column('name', sa.String(50)), sa.PrimaryKeyConstraint('id'))


        def downgrade():
            op.drop_table('users')
        '''))
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PRESTART_", "PG")) and k != "DATABASE_URL"}
    cp = subprocess.run([prestart_bin(), "compile"], cwd=str(app_root), env=env,
                        capture_output=True, text=True)
    assert cp.returncode == 2, describe(cp)
    assert "unsupported database URL scheme 'driver'" in cp.stderr
    cp = subprocess.run([prestart_bin(), "compile", "--dialect", dialect(db)], cwd=str(app_root),
                        env=env, capture_output=True, text=True)
    assert cp.returncode == 0, describe(cp)
    empty = tmp_path / "empty"
    empty.mkdir()
    cp = subprocess.run([prestart_bin(), "--require-compiled", "upgrade"], cwd=str(app_root),
                        env=dict(env, DATABASE_URL=db.url, PATH=str(empty)),
                        capture_output=True, text=True)
    assert cp.returncode == 0, describe(cp)
    assert db.versions() == ["p1"] and "users" in db.tables()


FASTAPI_CONFIG = '''\
import os


class Settings:
    """Like the template's pydantic settings: the URL is built from
    POSTGRES_* variables, every one of them required."""

    def __init__(self):
        self.POSTGRES_SERVER = os.environ["POSTGRES_SERVER"]
        self.POSTGRES_PORT = int(os.environ.get("POSTGRES_PORT", "5432"))
        self.POSTGRES_USER = os.environ["POSTGRES_USER"]
        self.POSTGRES_PASSWORD = os.environ["POSTGRES_PASSWORD"]
        self.POSTGRES_DB = os.environ["POSTGRES_DB"]

    @property
    def SQLALCHEMY_DATABASE_URI(self):
        return "postgresql+psycopg://%s:%s@%s:%d/%s" % (
            self.POSTGRES_USER, self.POSTGRES_PASSWORD, self.POSTGRES_SERVER,
            self.POSTGRES_PORT, self.POSTGRES_DB)


settings = Settings()
'''

FASTAPI_MODELS = '''\
import sqlalchemy as sa

metadata = sa.MetaData(naming_convention={
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "pk": "pk_%(table_name)s",
})
'''

FASTAPI_ENV = '''\
import os
from logging.config import fileConfig

from alembic import context
from sqlalchemy import engine_from_config, pool

config = context.config
fileConfig(config.config_file_name)

from app.models import metadata  # noqa
from app.core.config import settings  # noqa

target_metadata = metadata


def get_url():
    return str(settings.SQLALCHEMY_DATABASE_URI)


def run_migrations_offline():
    url = get_url()
    context.configure(url=url, target_metadata=target_metadata, literal_binds=True,
                      compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online():
    configuration = config.get_section(config.config_ini_section)
    configuration["sqlalchemy.url"] = get_url().replace("+psycopg", "+psycopg2")
    connectable = engine_from_config(configuration, prefix="sqlalchemy.",
                                     poolclass=pool.NullPool)
    with connectable.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata,
                          compare_type=True)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
'''


def test_fastapi_template_settings_url(pg_cluster, tmp_path, request):
    """env.py as the FastAPI full-stack template writes it: the URL comes
    from a settings module built from POSTGRES_* variables (psycopg 3, not
    installed here), the metadata's naming convention names constraints.
    The build stage sets dummy POSTGRES_* values; the deployment's run
    needs neither Python nor those variables."""
    name = pg_cluster.new_database()
    request.addfinalizer(lambda: pg_cluster.drop_database(name))
    url = pg_cluster.tcp_url(name)
    app = AlembicApp(tmp_path / "backend", url, env_py=FASTAPI_ENV)
    (app.root / "app" / "core").mkdir(parents=True)
    (app.root / "app" / "__init__.py").write_text("")
    (app.root / "app" / "core" / "__init__.py").write_text("")
    (app.root / "app" / "core" / "config.py").write_text(FASTAPI_CONFIG)
    (app.root / "app" / "models.py").write_text(FASTAPI_MODELS)
    app.rev("e2412789c190", None, '''\
op.create_table('user',
    sa.Column('email', sa.String(length=255), nullable=False),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.Column('full_name', sa.String(length=255), nullable=True),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('hashed_password', sa.String(), nullable=False),
    sa.PrimaryKeyConstraint('id')
)
op.create_index(op.f('ix_user_email'), 'user', ['email'], unique=True)
op.create_table('item',
    sa.Column('title', sa.String(length=255), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('owner_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['owner_id'], ['user.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
)''', "op.drop_table('item')\nop.drop_index(op.f('ix_user_email'), table_name='user')\n"
          "op.drop_table('user')", "Initialize models")
    app.rev("9c0a54914c78", "e2412789c190",
            "op.add_column('item', sa.Column('description', sa.String(length=255), "
            "nullable=True))", "op.drop_column('item', 'description')", "Add max length")

    cp = app.prestart("compile", "--dialect", "postgresql", url=False)
    assert cp.returncode == 1, describe(cp)
    assert "env.py failed in offline mode" in cp.stderr and "POSTGRES_SERVER" in cp.stderr
    dummy = dict(POSTGRES_SERVER="db", POSTGRES_USER="build", POSTGRES_PASSWORD="build",
                 POSTGRES_DB="app")
    app.ok("compile", "--dialect", "postgresql", url=False, **dummy)
    text = (app.compiled / "e2412789c190.postgresql.sql").read_text()
    assert 'CONSTRAINT pk_user PRIMARY KEY (id)' in text
    assert 'REFERENCES "user" (id) ON DELETE CASCADE' in text

    app.ok("--require-compiled", "run", nopython=True)
    ref = pg_cluster.new_database()
    request.addfinalizer(lambda: pg_cluster.drop_database(ref))
    app.alembic("upgrade", "head", env=app.env(
        POSTGRES_SERVER="127.0.0.1", POSTGRES_PORT=str(pg_cluster.port), POSTGRES_USER="app",
        POSTGRES_PASSWORD=PASSWORD, POSTGRES_DB=ref))
    assert state(Database("pg", url, cluster=pg_cluster, name=name)) == \
        state(Database("pg", pg_cluster.tcp_url(ref), cluster=pg_cluster, name=ref))


def test_compile_errors(tmp_path):
    app = AlembicApp(tmp_path / "app", None)
    app.rev("x1", None, "op.execute('SELECT 1')", "")
    cp = app.prestart("compile", "--dialect", "mysql", url=False)
    assert cp.returncode == 2 and "unknown dialect 'mysql'" in cp.stderr, describe(cp)
    cp = app.prestart("compile", "--url", "mysql://u:pw-CANARY@h/db", url=False)
    assert cp.returncode == 2 and "cannot tell the dialect of --url" in cp.stderr, describe(cp)
    cp = app.prestart("compile", "--dialect", "sqlite", "--url", "postgresql://", url=False)
    assert cp.returncode == 2 and "--url is a postgresql URL" in cp.stderr, describe(cp)
    cp = app.prestart("compile", "--dialect", "sqlite", url=False,
                      PRESTART_PYTHON="/nonexistent/python3")
    assert cp.returncode == 1, describe(cp)
    assert "exited with status 127 (command not found)" in cp.stderr
    (app.scripts / "env.py").write_text("raise RuntimeError('no offline mode here')\n")
    cp = app.prestart("compile", "--dialect", "sqlite", url=False)
    assert cp.returncode == 1, describe(cp)
    assert "env.py failed in offline mode" in cp.stderr
    assert "RuntimeError: no offline mode here" in cp.stderr
    assert not list(app.compiled.glob("*.sql"))


def test_compile_removes_sql_of_revisions_that_are_gone(tmp_path):
    """compiled/ is compile's output: the SQL of a revision deleted from
    the project (squashed, renamed) goes; other dialects' files (not
    compiled this time) and files that are not compiled SQL stay."""
    app = AlembicApp(tmp_path / "app", None)
    app.rev("k1", None, "op.create_table('k1', sa.Column('x', sa.Integer))", "op.drop_table('k1')")
    gone = app.rev("k2", "k1", "op.create_table('k2', sa.Column('x', sa.Integer))",
                   "op.drop_table('k2')")
    app.compile("sqlite", "postgresql")
    (app.compiled / "NOTES.txt").write_text("kept\n")
    assert {p.name for p in app.compiled.glob("k2.*.sql")} == {"k2.sqlite.sql",
                                                                "k2.postgresql.sql"}
    gone.unlink()
    cp = app.compile("sqlite")
    assert "no revision k2 in the project any more" in cp.stderr, describe(cp)
    assert sorted(p.name for p in app.compiled.iterdir()) == \
        ["NOTES.txt", "k1.postgresql.sql", "k1.sqlite.sql", "k2.postgresql.sql"]
    cp = app.compile("postgresql")
    assert sorted(p.name for p in app.compiled.iterdir()) == \
        ["NOTES.txt", "k1.postgresql.sql", "k1.sqlite.sql"]
    # nothing more to remove: nothing said
    cp = app.compile("sqlite", "postgresql")
    assert "compiled_removed" not in cp.stderr and "no revision" not in cp.stderr, describe(cp)


def test_url_and_x_arguments_reach_env_py(tmp_path):
    env_py = textwrap.dedent('''\
        from alembic import context
        x = context.get_x_argument(as_dictionary=True)
        assert x["tenant"] == "acme", x
        assert context.config.get_main_option("sqlalchemy.url").startswith("sqlite+pysqlite")
        context.configure(url=context.config.get_main_option("sqlalchemy.url"),
                          literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
        ''')
    app = AlembicApp(tmp_path / "app", None, env_py=env_py)
    app.rev("x1", None, "op.create_table('t', sa.Column('x', sa.Integer))", "op.drop_table('t')")
    cp = app.prestart("compile", "--url", "sqlite+pysqlite://", "-x", "tenant=acme", url=False)
    assert cp.returncode == 0, describe(cp)
    assert (app.compiled / "x1.sqlite.sql").exists()


def test_mixed_run_under_one_lock(pg_cluster, tmp_path, request):
    """Five replicas start together on a plan of compiled revisions around
    one that Alembic must run (it reads the database, slowly): one replica
    migrates, each stretch once, the others find the work done."""
    name = pg_cluster.new_database()
    request.addfinalizer(lambda: pg_cluster.drop_database(name))
    app = AlembicApp(tmp_path / "app", pg_cluster.tcp_url(name))
    app.rev("m1", None, USERS_UP, USERS_DOWN, "users")
    app.rev("m2", "m1", "op.get_bind().execute(sa.text('SELECT pg_sleep(1)')).fetchall()",
            "", "slow reader")
    app.rev("m3", "m2", SEED_UP, SEED_DOWN, "seed")
    app.compile("postgresql")
    wrapper, recorded = recorder(app)
    env = app.env(PRESTART_ALEMBIC_COMMAND=wrapper)
    procs = [subprocess.Popen([prestart_bin(), "run", "--", "/bin/sh", "-c",
                               'printf %s "$PRESTART_REVISION" > "$0"', "rev%d.txt" % i],
                              cwd=str(app.root), env=env, stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i in range(5)]
    results = [p.communicate(timeout=180) + (p.returncode,) for p in procs]
    for out, err, rc in results:
        assert rc == 0, "exit %d\n%s\n%s" % (rc, out, err)
    assert recorded() == ["upgrade m2"]
    migrated = [out for out, _, _ in results if "in 3 runs" in out]
    assert len(migrated) == 1
    for i in range(5):
        assert (app.root / ("rev%d.txt" % i)).read_text() == "m3"

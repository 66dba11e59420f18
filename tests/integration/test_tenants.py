"""Many tenants in one run (SPEC §9.5): each tenant a PostgreSQL schema with
its own version table, lock and transactions; the survey that costs no lock
when every tenant is at head; failure isolation, the canary, the maximum of
failures; shards; SIGTERM; two runs at once; status per tenant."""
import json
import signal

import pytest

from harness import spawn, wait_until

pg_only = pytest.mark.parametrize("engine", ["pg"])

R1 = ("CREATE TABLE items (id int PRIMARY KEY);\n"
      "CREATE TABLE applied_log (rev text NOT NULL);\n"
      "INSERT INTO applied_log VALUES ('r1');")
R2 = ("ALTER TABLE items ADD COLUMN name text;\n"
      "INSERT INTO applied_log VALUES ('r2');")


def two_revs(project):
    project.rev("r1", up=R1, down_sql="DROP TABLE items; DROP TABLE applied_log;")
    project.rev("r2", down="r1", up=R2, down_sql="ALTER TABLE items DROP COLUMN name;")


def make_schemas(db, prefix, n):
    db.execute("DO $$ BEGIN FOR i IN 1..%d LOOP "
               "EXECUTE format('CREATE SCHEMA %%I', '%s' || i); END LOOP; END $$;"
               % (n, prefix))
    return ["%s%d" % (prefix, i) for i in range(1, n + 1)]


def versions_of(db, names):
    """{tenant: [revisions]} read from each tenant's version table (missing
    table: None)."""
    have = {r[0] for r in db.query(
        "SELECT n.nspname FROM pg_namespace n JOIN pg_class c ON c.relnamespace = n.oid "
        "WHERE c.relname = 'alembic_version'")}
    got = {t: None for t in names}
    todo = [t for t in names if t in have]
    for i in range(0, len(todo), 500):
        part = todo[i:i + 500]
        sql = " UNION ALL ".join(
            "SELECT '%s', version_num FROM %s.alembic_version" % (t, t) for t in part)
        for t, v in db.query(sql):
            got[t] = (got[t] or []) + [v]
    return got


def log_counts(db, names):
    """{tenant: {rev: count}} from each tenant's applied_log."""
    have = {r[0] for r in db.query(
        "SELECT n.nspname FROM pg_namespace n JOIN pg_class c ON c.relnamespace = n.oid "
        "WHERE c.relname = 'applied_log'")}
    got = {t: {} for t in names}
    todo = [t for t in names if t in have]
    for i in range(0, len(todo), 500):
        part = todo[i:i + 500]
        sql = " UNION ALL ".join(
            "SELECT '%s', rev, count(*) FROM %s.applied_log GROUP BY rev" % (t, t)
            for t in part)
        for t, rev, n in db.query(sql):
            got[t][rev] = n
    return got


QUERY = "query:SELECT nspname FROM pg_namespace WHERE nspname LIKE 'tn%' ORDER BY 1"


@pg_only
def test_thousand_tenants_then_noop(project, db):
    two_revs(project)
    names = make_schemas(db, "tn", 1000)
    cp = project.ok("run", "--tenants", QUERY, "--tenant-parallel", "4")
    assert "1000 migrated, 0 already at head, 0 failed" in cp.stdout, cp.stdout
    v = versions_of(db, names)
    assert all(v[t] == ["r2"] for t in names), [t for t in names if v[t] != ["r2"]][:5]
    logs = log_counts(db, names)
    assert all(logs[t] == {"r1": 1, "r2": 1} for t in names)
    # the public schema was not touched
    assert not db.query("SELECT 1 FROM pg_tables WHERE schemaname = 'public' "
                        "AND tablename IN ('items', 'applied_log', 'alembic_version')")
    # one ledger row per tenant and revision, under the tenant's version table
    rows = db.query("SELECT count(*), count(DISTINCT version_table) FROM prestart.history")
    assert rows == [(2000, 1000)]
    # again: nothing to do, no tenant locked or touched
    cp = project.ok("run", "--tenants", QUERY)
    assert "all 1000 tenants already at head, nothing to do" in cp.stdout, cp.stdout
    assert "tenant tn" not in cp.stdout
    assert log_counts(db, names) == logs


@pg_only
def test_a_failing_tenant_fails_alone_and_a_rerun_completes(project, db):
    two_revs(project)
    names = make_schemas(db, "fx", 20)
    # fx7 already has a table r1 creates
    db.execute("CREATE TABLE fx7.items (other int)")
    cp = project.run("run", "--tenants", ",".join(names), "--", "/bin/true")
    assert cp.returncode == 1, cp.stdout + cp.stderr
    assert "1 tenant failed: fx7 (at <base>:" in cp.stderr, cp.stderr
    assert 'relation "items" already exists' in cp.stderr
    v = versions_of(db, names)
    assert v["fx7"] is None
    assert all(v[t] == ["r2"] for t in names if t != "fx7")
    # the failed tenant rolled back whole
    assert db.query("SELECT count(*) FROM pg_tables WHERE schemaname = 'fx7'") == [(1,)]
    # fixed, a re-run migrates only fx7
    db.execute("DROP TABLE fx7.items")
    cp = project.ok("run", "--tenants", ",".join(names))
    assert "1 migrated, 19 already at head, 0 failed" in cp.stdout, cp.stdout
    assert versions_of(db, ["fx7"]) == {"fx7": ["r2"]}


@pg_only
def test_a_missing_schema_is_a_failed_tenant(project, db):
    two_revs(project)
    make_schemas(db, "ms", 2)
    cp = project.run("run", "--tenants", "ms1,nosuch,ms2")
    assert cp.returncode == 1
    assert "nosuch" in cp.stderr and "the schema nosuch does not exist" in cp.stderr
    assert versions_of(db, ["ms1", "ms2"]) == {"ms1": ["r2"], "ms2": ["r2"]}


@pg_only
def test_tenants_file_and_status(project, db, tmp_path):
    two_revs(project)
    make_schemas(db, "sf", 3)
    f = tmp_path / "tenants.txt"
    f.write_text("# our tenants\nsf1\n\n  sf2   # the second\n")
    project.ok("upgrade", "--tenants", "@" + str(f))
    cp = project.ok("status", "--tenants", "sf1,sf2,sf3")
    doc = json.loads(cp.stdout)
    by = {t["name"]: t for t in doc["tenants"]}
    assert by["sf1"]["current"] == ["r2"] and by["sf1"]["pending"] == []
    assert by["sf1"]["at_head"] is True
    assert by["sf3"]["current"] is None and by["sf3"]["pending"] == ["r1", "r2"]
    assert doc["at_head"] is False


@pg_only
def test_canary_stops_on_failure(project, db):
    two_revs(project)
    names = make_schemas(db, "cy", 10)
    db.execute("CREATE TABLE cy1.items (other int)")
    cp = project.run("run", "--tenants", ",".join(names), "--tenant-canary", "2")
    assert cp.returncode == 1
    assert "a canary tenant failed" in cp.stdout + cp.stderr
    v = versions_of(db, names)
    # the canaries ran, nothing after them
    assert v["cy1"] is None and v["cy2"] == ["r2"]
    assert all(v[t] is None for t in names[2:])


@pg_only
def test_max_failures_stops_starting(project, db):
    two_revs(project)
    names = make_schemas(db, "mf", 10)
    for t in names[:3]:
        db.execute("CREATE TABLE %s.items (other int)" % t)
    cp = project.run("run", "--tenants", ",".join(names), "--tenant-max-failures", "2",
                     "--tenant-parallel", "1")
    assert cp.returncode == 1
    v = versions_of(db, names)
    assert [t for t in names if v[t] is None] == names  # stopped after mf1, mf2
    assert "2 failed" in cp.stdout and "8 not started" in cp.stdout, cp.stdout


@pg_only
def test_two_shards_cover_every_tenant_once(project, db):
    two_revs(project)
    names = make_schemas(db, "sh", 60)
    src = ",".join(names)
    a = project.ok("run", "--tenants", src, "--tenant-shard", "0/2")
    v = versions_of(db, names)
    first = {t for t in names if v[t] == ["r2"]}
    assert 10 < len(first) < 50
    b = project.ok("run", "--tenants", src, env={"JOB_COMPLETION_INDEX": "1",
                                                 "PRESTART_TENANT_SHARDS": "2"})
    assert "already at head" in a.stdout + b.stdout
    v = versions_of(db, names)
    assert all(v[t] == ["r2"] for t in names)
    logs = log_counts(db, names)
    assert all(logs[t] == {"r1": 1, "r2": 1} for t in names)


@pg_only
def test_a_source_without_tenants_says_so(project, db, tmp_path):
    """A query with no row (a platform with no tenant yet) is not an error:
    the run says the source named none (not "all 0 tenants already at
    head") and execs the application."""
    two_revs(project)
    marker = tmp_path / "app-ran"
    cp = project.ok("run", "--tenants", "query:SELECT 'x' WHERE false", "--",
                    "/bin/sh", "-c", ': > "$1"', "app", str(marker))
    assert "no tenant to migrate: --tenants names none" in cp.stdout, cp.stdout + cp.stderr
    assert "all 0" not in cp.stdout
    assert marker.exists()


@pg_only
def test_job_index_without_shard_count_warns(project, db):
    """An Indexed Job's JOB_COMPLETION_INDEX without PRESTART_TENANT_SHARDS
    cannot shard: every tenant is taken, and a warning says why."""
    two_revs(project)
    names = make_schemas(db, "jw", 4)
    cp = project.ok("run", "--tenants", ",".join(names), env={"JOB_COMPLETION_INDEX": "1"})
    warn = [ln for ln in (cp.stdout + cp.stderr).splitlines()
            if "JOB_COMPLETION_INDEX" in ln]
    assert len(warn) == 1 and "PRESTART_TENANT_SHARDS" in warn[0], cp.stdout + cp.stderr
    assert all(v == ["r2"] for v in versions_of(db, names).values())


@pg_only
def test_two_runs_at_once_migrate_each_tenant_once(project, db, tmp_path):
    project.rev("r1", up=R1 + "\nSELECT pg_sleep(0.01);")
    names = make_schemas(db, "cc", 80)
    procs = [spawn(project, "run", "--tenants", QUERY.replace("tn%", "cc%"),
                   outdir=tmp_path / "out") for _ in range(2)]
    for p in procs:
        assert p.wait(60) == 0, p.output
    logs = log_counts(db, names)
    assert all(logs[t] == {"r1": 1} for t in names), logs
    # each tenant reported migrated by exactly one of the two (a busy lock
    # sends a tenant to the end of the queue: the runs share the work)
    done = [ln.split()[2].rstrip(":") for p in procs for ln in p.stdout.splitlines()
            if "upgraded from" in ln]
    assert sorted(done) == sorted(names), done


@pg_only
def test_sigterm_leaves_each_tenant_old_or_new(project, db, tmp_path):
    project.rev("r1", up=R1)
    project.rev("r2", down="r1", up=R2 + "\nSELECT pg_sleep(0.05);")
    names = make_schemas(db, "sg", 200)
    p = spawn(project, "run", "--tenants", QUERY.replace("tn%", "sg%"),
              "--transaction-per-migration", "--tenant-parallel", "2",
              outdir=tmp_path / "out")
    wait_until(lambda: "tenant sg" in p.stdout, 30, what="a tenant migrated")
    p.p.send_signal(signal.SIGTERM)
    assert p.wait(30) == 128 + signal.SIGTERM, p.output
    v = versions_of(db, names)
    logs = log_counts(db, names)
    for t in names:
        # per revision commits: base, r1 or r2, and the log agrees
        assert v[t] in (None, ["r1"], ["r2"]), (t, v[t])
        want = {} if v[t] is None else {"r1": 1} if v[t] == ["r1"] else {"r1": 1, "r2": 1}
        assert logs[t] == want, (t, v[t], logs[t])
    assert any(v[t] != ["r2"] for t in names), "the run finished before the signal"
    project.ok("run", "--tenants", QUERY.replace("tn%", "sg%"))
    assert all(x == ["r2"] for x in versions_of(db, names).values())


@pg_only
def test_search_path_is_the_tenants(project, db):
    project.rev("r1", up="CREATE TABLE t_here (x int); "
                         "INSERT INTO t_here SELECT count(*) FROM shared_ref;")
    make_schemas(db, "sp", 2)
    db.execute("CREATE TABLE public.shared_ref (x int); INSERT INTO shared_ref VALUES (1);")
    project.ok("run", "--tenants", "sp1,sp2")
    assert db.query("SELECT x FROM sp1.t_here") == [(1,)]
    assert db.query("SELECT x FROM sp2.t_here") == [(1,)]
    assert not db.query("SELECT 1 FROM pg_tables WHERE tablename = 't_here' "
                        "AND schemaname = 'public'")


@pytest.mark.parametrize("engine", ["sqlite"])
def test_sqlite_refused(project):
    project.rev("r1", up="CREATE TABLE a (x int);")
    cp = project.run("run", "--tenants", "a,b")
    assert cp.returncode == 2
    assert "--tenants needs PostgreSQL: one SQLite file is one database" in cp.stderr


@pg_only
def test_bad_names_refused(project, db, tmp_path):
    project.rev("r1", up="CREATE TABLE a (x int);")
    cp = project.run("run", "--tenants", "good,bad-name")
    assert cp.returncode == 2
    assert "invalid tenant name 'bad-name' in --tenants" in cp.stderr
    f = tmp_path / "t.txt"
    f.write_text("ok\nno way\n")
    cp = project.run("run", env={"PRESTART_TENANTS": "@" + str(f)})
    assert cp.returncode == 2
    assert "invalid tenant name 'no way' in %s:2" % f in cp.stderr
    cp = project.run("run", "--tenants", "query:SELECT 'x;y'")
    assert cp.returncode == 2
    assert "invalid tenant name 'x;y' in row 1 of the tenants query of --tenants" in cp.stderr
    cp = project.run("run", "--tenants", "a", "--tenant-shard", "2/2")
    assert cp.returncode == 2 and "--tenant-shard" in cp.stderr
    assert db.query("SELECT count(*) FROM pg_namespace WHERE nspname = 'prestart'") == [(0,)]


@pg_only
def test_one_schema_commands_refuse_tenants(project, db):
    """A command that works on one schema's version table does not ignore a
    tenants setting (it would stamp or check the public schema instead):
    exit 2 naming the setting and the command, nothing written."""
    two_revs(project)
    names = make_schemas(db, "os", 2)
    project.ok("run", "--tenants", ",".join(names))
    for argv in (["check"], ["current"], ["stamp", "r1"], ["downgrade", "base"],
                 ["rollback"], ["wait", "--head"], ["archives"]):
        cp = project.run(*argv, "--tenants", "os1")
        assert cp.returncode == 2, (argv, cp.stderr)
        name = "wait --head" if argv[0] == "wait" else argv[0]
        assert ("--tenants: '%s' works on one schema's version table and does not take "
                "tenants (run, upgrade and status do)" % name) in cp.stderr, cp.stderr
    cp = project.run("stamp", "r1", env={"PRESTART_TENANTS": "os1"})
    assert cp.returncode == 2
    assert "PRESTART_TENANTS: 'stamp' works on one schema's version table" in cp.stderr
    # nothing was written: the public schema has no version table, the tenants stay at head
    assert db.query("SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = "
                    "c.relnamespace WHERE n.nspname = 'public' AND c.relname = "
                    "'alembic_version'") == [(0,)]
    assert versions_of(db, names) == {"os1": ["r2"], "os2": ["r2"]}
    # the commands that read only the scripts, and the tenants commands, still work
    project.ok("history", "--tenants", "os1")
    project.ok("status", "--tenants", "os1")
    # one tenant, as docs/tenants.md says: its version table and search_path
    project.ok("downgrade", "-1", env={"PRESTART_VERSION_TABLE_SCHEMA": "os1",
                                       "PGOPTIONS": "-c search_path=os1,public"})
    assert versions_of(db, names) == {"os1": ["r1"], "os2": ["r2"]}
    assert db.query("SELECT count(*) FROM information_schema.columns WHERE table_schema = "
                    "'os1' AND table_name = 'items' AND column_name = 'name'") == [(0,)]


@pg_only
def test_status_and_metrics_per_tenant_state(project, db, tmp_path):
    from harness import free_port, http_get, parse_prometheus, sessions_running
    project.rev("r1", up=R1 + "\nSELECT pg_sleep(CASE WHEN current_schema() = 'hs3' "
                              "THEN 60 ELSE 0 END);")
    names = make_schemas(db, "hs", 5)
    db.execute("CREATE TABLE hs1.items (other int)")
    port = free_port()
    p = spawn(project, "run", "--tenants", ",".join(names), "--tenant-parallel", "2",
              "--health-addr", "127.0.0.1:%d" % port, outdir=tmp_path / "out")
    try:
        wait_until(lambda: sessions_running(db, "pg_sleep(CASE"), 30, what="hs3 sleeping")

        def settled():
            doc = json.loads(http_get("http://127.0.0.1:%d/status" % port)[1])
            t = doc.get("tenants", {})
            return doc if t.get("failed") == 1 and t.get("migrated") == 3 else None
        doc = wait_until(settled, 30, what="the other tenants done")
        t = doc["tenants"]
        assert t["total"] == 5 and t["running"] == 1 and t["pending"] == 0, t
        assert t["failed_names"] == ["hs1"]
        status, body = http_get("http://127.0.0.1:%d/metrics" % port)
        assert 'prestart_tenants_total{state="failed"} 1' in body, body
        assert 'prestart_tenants_total{state="migrated"} 3' in body
        assert 'prestart_tenants_total{state="running"} 1' in body
        assert parse_prometheus(body)
        # the counts line, every 5 s while tenants run
        line = wait_until(lambda: [ln for ln in p.stdout.splitlines()
                                   if "tenants: 3 migrated, 1 failed, 1 pending (" in ln],
                          20, what="a progress line")
        assert "/s, ETA " in line[0], line
    finally:
        p.p.send_signal(signal.SIGTERM)
        rc = p.wait(30)
    assert rc == 128 + signal.SIGTERM, p.output
    # hs3 rolled back: at base, its tables gone
    assert versions_of(db, ["hs3"]) == {"hs3": None}
    assert db.query("SELECT count(*) FROM pg_tables WHERE schemaname = 'hs3'") == [(0,)]
    assert "tenant hs1 failed at <base>" in p.output


@pg_only
def test_a_step_needing_alembic_is_refused(project, db):
    for rev, down in (("p1", None), ("p2", "p1")):
        project.write("%s_py.py" % rev,
                      '"""py revision\n\nRevision ID: %s\nRevises: %s\n'
                      'Create Date: 2026-01-01 00:00:00\n"""\n'
                      "from alembic import op\n\n"
                      "revision = '%s'\ndown_revision = %s\n"
                      "branch_labels = None\ndepends_on = None\n\n\n"
                      "def upgrade():\n    op.execute('CREATE TABLE t_%s (x int)')\n\n\n"
                      "def downgrade():\n    pass\n"
                      % (rev, down or "", rev, repr(down), rev))
    make_schemas(db, "py", 2)
    cp = project.run("run", "--tenants", "py1,py2")
    assert cp.returncode == 3, cp.stdout + cp.stderr
    assert "tenants need SQL or compiled revisions: revision p1" in cp.stderr, cp.stderr
    assert versions_of(db, ["py1", "py2"]) == {"py1": None, "py2": None}


@pytest.mark.parametrize("engine", ["sqlite"])
def test_sqlite_status_refused(project):
    project.rev("r1", up="CREATE TABLE a (x int);")
    cp = project.run("status", "--tenants", "a")
    assert cp.returncode == 2
    assert "--tenants needs PostgreSQL" in cp.stderr


@pg_only
def test_compiled_py_revisions_run_per_tenant(db, tmp_path):
    from compile_support import AlembicApp
    app = AlembicApp(tmp_path / "app", db.url)
    app.rev("c1", None, "op.create_table('things', sa.Column('id', sa.Integer, "
                        "primary_key=True))", "op.drop_table('things')", "things")
    app.rev("c2", "c1", "op.add_column('things', sa.Column('name', sa.Text))",
            "op.drop_column('things', 'name')", "name")
    app.compile("postgresql")
    make_schemas(db, "cp", 3)
    cp = app.prestart("run", "--tenants", "cp1,cp2,cp3", nopython=True)
    assert cp.returncode == 0, cp.stdout + cp.stderr
    assert versions_of(db, ["cp1", "cp2", "cp3"]) == {t: ["c2"] for t in ("cp1", "cp2", "cp3")}
    assert sorted(db.query("SELECT table_schema FROM information_schema.columns "
                           "WHERE table_name = 'things' AND column_name = 'name'")) == \
        [("cp1",), ("cp2",), ("cp3",)]


@pg_only
def test_mixed_case_and_dollar_names(project, db):
    two_revs(project)
    db.execute('CREATE SCHEMA "Acme_Corp"; CREATE SCHEMA "t$1"; CREATE SCHEMA acme_corp;')
    project.ok("run", "--tenants", "Acme_Corp,t$1,acme_corp")
    got = db.query('SELECT version_num FROM "Acme_Corp".alembic_version UNION ALL '
                   'SELECT version_num FROM "t$1".alembic_version UNION ALL '
                   'SELECT version_num FROM acme_corp.alembic_version')
    assert got == [("r2",)] * 3
    assert db.query('SELECT count(*) FROM "Acme_Corp".applied_log') == [(2,)]
    cp = project.ok("run", "--tenants", "Acme_Corp,t$1,acme_corp")
    assert "all 3 tenants already at head" in cp.stdout


FAX_R1 = ("CREATE TABLE items (id int PRIMARY KEY, fax text);\n"
          "CREATE TABLE applied_log (rev text NOT NULL);\n"
          "INSERT INTO applied_log VALUES ('r1');")


def fax_columns(db, names):
    """{tenant: whether items still has the fax column}"""
    have = {r[0] for r in db.query(
        "SELECT table_schema FROM information_schema.columns WHERE table_name = 'items' "
        "AND column_name = 'fax'")}
    return {t: t in have for t in names}


def expand_revs(project):
    """r2 adds a column (expand), r3 drops fax (contract)."""
    project.rev("r2", down="r1", up=R2, down_sql="ALTER TABLE items DROP COLUMN name;")
    project.rev("r3", down="r2", up="ALTER TABLE items DROP COLUMN fax;\n"
                "INSERT INTO applied_log VALUES ('r3');",
                down_sql="ALTER TABLE items ADD COLUMN fax text;")


@pg_only
def test_expand_then_contract_over_tenants(project, db):
    """SPEC §9.4 per tenant: the expand phase applies the additive
    revision in every tenant, holds the drop back (named once, not once
    per tenant, and in the summary), and execs the application; the
    contract phase applies the drop."""
    project.rev("r1", up=FAX_R1, down_sql="DROP TABLE items; DROP TABLE applied_log;")
    names = make_schemas(db, "ep", 12)
    project.ok("run", "--tenants", ",".join(names))
    assert versions_of(db, names) == {t: ["r1"] for t in names}
    expand_revs(project)
    cp = project.run("--phase", "expand", "run", "--tenants", ",".join(names),
                     "--tenant-parallel", "3", "--", "/bin/echo", "app ran")
    out = cp.stdout + cp.stderr
    assert cp.returncode == 0, out
    assert cp.stdout.endswith("app ran\n"), out
    assert versions_of(db, names) == {t: ["r2"] for t in names}
    assert fax_columns(db, names) == {t: True for t in names}
    assert all(c == {"r1": 1, "r2": 1} for c in log_counts(db, names).values())
    # one line for the revision held back, whatever the number of tenants
    assert out.count("held back for the contract phase: r3: contract: ") == 1, out
    assert ("12 migrated, 0 already at the expand point, 0 failed, 0 not started"
            in out), out
    assert "; held back for the contract phase: r3" in out, out
    # again: nothing to do, the drop still named
    cp = project.ok("--phase", "expand", "upgrade", "--tenants", ",".join(names))
    out = cp.stdout + cp.stderr
    assert "all 12 tenants already at the expand point, nothing to do" in out, out
    assert "held back for the contract phase: r3" in out, out
    cp = project.ok("--phase", "contract", "upgrade", "--tenants", ",".join(names))
    out = cp.stdout + cp.stderr
    assert "12 migrated, 0 already at head" in out, out
    assert "held back" not in out, out
    assert versions_of(db, names) == {t: ["r3"] for t in names}
    assert fax_columns(db, names) == {t: False for t in names}


@pg_only
def test_expand_over_tenants_isolates_a_failure(project, db):
    """A tenant failing in the expand phase fails alone: the others reach
    the expand point, the run exits 1 naming it, no application."""
    project.rev("r1", up=FAX_R1, down_sql="DROP TABLE items; DROP TABLE applied_log;")
    names = make_schemas(db, "ef", 6)
    project.ok("run", "--tenants", ",".join(names))
    expand_revs(project)
    # ef4 already has the column r2 adds
    db.execute("ALTER TABLE ef4.items ADD COLUMN name text")
    cp = project.run("--phase", "expand", "run", "--tenants", ",".join(names), "--",
                     "/bin/echo", "app ran")
    assert cp.returncode == 1, cp.stdout + cp.stderr
    assert "app ran" not in cp.stdout
    assert "1 tenant failed: ef4 (at r1:" in cp.stderr, cp.stderr
    v = versions_of(db, names)
    assert v["ef4"] == ["r1"]
    assert all(v[t] == ["r2"] for t in names if t != "ef4"), v
    assert fax_columns(db, names) == {t: True for t in names}


@pg_only
def test_survey_reads_odd_version_tables(project, db):
    """The survey reads plain version tables by COPY; a version table that
    is a view sends its batch to the other reading, with the same answer;
    the marker of an interrupted revision and a schema without a version
    table are seen either way."""
    two_revs(project)
    names = make_schemas(db, "od", 4)
    project.ok("run", "--tenants", ",".join(names))
    cp = project.ok("run", "--tenants", ",".join(names))
    assert "all 4 tenants already at head" in cp.stdout, cp.stdout
    db.execute("ALTER TABLE od2.alembic_version RENAME TO av; "
               "CREATE VIEW od2.alembic_version AS SELECT * FROM od2.av")
    cp = project.ok("status", "--tenants", ",".join(names))
    by = {t["name"]: t for t in json.loads(cp.stdout)["tenants"]}
    assert all(by[t]["current"] == ["r2"] and by[t]["at_head"] for t in names), by
    # od3: the marker of an interrupted revision; od4: no version table
    db.execute("CREATE TABLE od3.alembic_version_pending (x int); "
               "DROP TABLE od4.alembic_version")
    cp = project.ok("status", "--tenants", ",".join(names))
    by = {t["name"]: t for t in json.loads(cp.stdout)["tenants"]}
    assert by["od1"]["at_head"] and by["od2"]["at_head"], by
    assert by["od3"]["current"] == ["r2"] and not by["od3"]["at_head"], by
    assert by["od4"]["current"] is None and by["od4"]["pending"] == ["r1", "r2"], by


@pg_only
def test_every_tenant_gets_the_rows_a_single_run_writes(project, db):
    """Each connection parses a revision once for all its tenants and the
    version table is not read again in the transaction: every tenant's
    ledger rows still carry the revision's class and lock hold, the same
    for each tenant as for a run over one schema, and a tenant whose
    version table already exists keeps its rows."""
    two_revs(project)
    # r3 rewrites a table the tenant already has: a contract revision
    project.rev("r3", down="r2", up="ALTER TABLE items ALTER COLUMN name TYPE varchar(20);",
                down_sql="ALTER TABLE items ALTER COLUMN name TYPE text;")
    names = make_schemas(db, "lc", 6)
    # lc1 is at r1 already, its version table made by an earlier run
    project.ok("upgrade", "r1", env={"PRESTART_VERSION_TABLE_SCHEMA": "lc1",
                                     "PGOPTIONS": "-c search_path=lc1,public"})
    cp = project.ok("run", "--tenants", ",".join(names), "--tenant-parallel", "2")
    assert "6 migrated" in cp.stdout, cp.stdout
    v = versions_of(db, names)
    assert all(v[t] == ["r3"] for t in names), v
    rows = db.query("SELECT version_table, revision, compat, lock_hold_ms IS NOT NULL "
                    "FROM prestart.history ORDER BY 1, 2")
    by_rev = {}
    for vt, rev, compat, hold in rows:
        by_rev.setdefault(rev, set()).add((compat, hold))
    assert len(rows) == 18, rows
    assert by_rev["r1"] == {("expand", True)}, by_rev
    assert by_rev["r2"] == {("expand", True)}, by_rev
    assert by_rev["r3"] == {("contract", True)}, by_rev
    # the same revisions in one schema by a plain run: the same values
    db.execute("CREATE SCHEMA solo")
    project.ok("run", env={"PRESTART_VERSION_TABLE_SCHEMA": "solo",
                           "PGOPTIONS": "-c search_path=solo,public"})
    solo = db.query("SELECT revision, compat FROM prestart.history "
                    "WHERE version_table = 'solo.alembic_version' ORDER BY 1")
    assert solo == [("r1", "expand"), ("r2", "expand"), ("r3", "contract")], solo

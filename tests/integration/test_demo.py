"""The demo migrations shipped in docker/demo work on both engines."""
import re

from harness import REPO, data_tables, describe, lines

DEMO = REPO / "docker" / "demo" / "migrations"


def demo_revisions():
    revs = {}
    for path in sorted((DEMO / "versions").glob("*.sql")):
        m = re.search(r"^-- Revision ID: (\S+)$", path.read_text(), re.M)
        revs[m.group(1)] = path
    return revs


def test_demo_upgrade_and_downgrade(project, db):
    revs = demo_revisions()
    assert len(revs) >= 4
    cp = project.ok("--dir", str(DEMO), "heads")
    heads = [ln.split()[0] for ln in lines(cp.stdout)]
    assert len(heads) == 1, describe(cp)
    cp = project.ok("--dir", str(DEMO), "run", "--", "sh", "-c", "echo rev=$PRESTART_REVISION")
    assert "rev=%s" % heads[0] in lines(cp.stdout)
    assert db.versions() == heads
    assert {"users", "posts", "tags", "post_tags"} <= data_tables(db)
    db.execute("INSERT INTO users (id, email) VALUES (1, 'ada@example.com');"
               "INSERT INTO posts (id, user_id, title) VALUES (1, 1, 'hello');"
               "INSERT INTO tags (id, name) VALUES (1, 'intro');"
               "INSERT INTO post_tags (post_id, tag_id) VALUES (1, 1);")
    assert db.query("SELECT user_id, posts, tag_uses FROM post_stats") == [(1, 1, 1)]
    cp = project.ok("--dir", str(DEMO), "history")
    assert len(lines(cp.stdout)) == len(revs)
    project.ok("--dir", str(DEMO), "downgrade", "base")
    assert db.versions() == []
    assert data_tables(db) == set()
    project.ok("--dir", str(DEMO), "upgrade", "tags@head")
    assert db.versions() == heads

"""Readiness (SPEC §7.4): a server that starts some seconds after prestart
began waiting is used as soon as it answers.  The test asserts only that
the run succeeds; how soon is measured by the benchmark ("readiness lag").

The standby and wait --head cases: test_standby.py and test_wait.py."""
import os
import time

import pytest

from harness import lines, spawn, wait_until

LONG = os.environ.get("PRESTART_LONG") == "1"
DELAYS = [1, 3, 6, 11] if LONG else [1, 3]


@pytest.mark.parametrize("engine", ["pg"])
@pytest.mark.parametrize("delay", DELAYS)
def test_server_started_late(engine, project, late_cluster, tmp_path, delay):
    project.rev("ready1", up="CREATE TABLE IF NOT EXISTS ready_t (id integer);",
                down_sql="")
    marker = tmp_path / "ran"
    p = spawn(project, "run", "--wait-timeout", "60s", "--",
              "/bin/sh", "-c", ': > "$1"', "app", marker, url=late_cluster.url())
    try:
        wait_until(lambda: any("waiting for" in ln for ln in lines(p.stdout))
                   or p.poll() is not None, 15, what="prestart to start waiting")
        assert p.poll() is None, p.describe()
        # The delay counts from prestart's start, as a pod's does.
        while time.monotonic() - p.started < delay:
            assert p.poll() is None, p.describe()
            time.sleep(0.05)
        late_cluster.launch()
        rc = p.wait(30)
    finally:
        p.kill()
        if late_cluster.started:
            late_cluster.halt()
    assert rc == 0, p.describe()
    assert marker.exists()
    # Probing every few ms must not flood the log: about as many lines as
    # §4's backoff would have written.
    waits = [ln for ln in lines(p.stdout) if "waiting for" in ln]
    assert len(waits) <= 4 + 2 * delay, p.describe()

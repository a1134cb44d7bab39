"""The examples run as written: the example config is valid, and the README's tour
(examples/tour.sh) passes against the gateway on examples/scopegate.yaml with the demo tool server."""
import os
import re
import subprocess
import tempfile

from harness import BIN, ROOT, Gateway, Upstream


def test_example_config_is_valid():
    env = dict(os.environ, SCOPEGATE_TOKEN_KEY="ab" * 32)
    out = subprocess.run([BIN, "check", "--config", os.path.join(ROOT, "examples", "scopegate.yaml")],
                         capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stdout + out.stderr


def test_the_tour_runs_as_written():
    upstream = Upstream("demo-tools")
    with open(os.path.join(ROOT, "examples", "scopegate.yaml")) as f:
        yaml_text = f.read()
    audit_dir = tempfile.mkdtemp(prefix="scopegate-tour-audit-")
    env = {"SCOPEGATE_TOKEN_KEY": "cd" * 32, "SCOPEGATE_ADMIN_TOKEN": "tour-admin", "SCOPEGATE_PORT": "0",
           "SCOPEGATE_ADMIN_PORT": "0", "DEMO_UPSTREAM_PORT": str(upstream.port), "SCOPEGATE_AUDIT_DIR": audit_dir}
    gw = Gateway(yaml_text, env=env)
    try:
        run = subprocess.run(["bash", os.path.join(ROOT, "examples", "tour.sh")], capture_output=True, text=True,
                             timeout=120, env=dict(os.environ, GW="http://127.0.0.1:%d" % gw.port,
                                                   ADMIN="http://127.0.0.1:%d" % gw.admin_port,
                                                   ADMIN_TOKEN="tour-admin", SCOPEGATE_AUDIT_DIR=audit_dir,
                                                   SCOPEGATE=BIN))
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr
        assert '"delegation-depth", "1"' in run.stdout.lower().replace("'", '"')
        # The audit steps: the footprint lists the child, never answers NEVER with the refused
        # upload as an attempt, and the chain verifies.
        assert "NEVER:" in run.stdout and "1 denied attempt(s)" in run.stdout
        assert "tools:      search" in run.stdout and "intact, seq 1.." in run.stdout
        assert "denied: the scope was not granted this action (grant_exceeded)" in run.stdout
        assert re.search(r"^SCOPE +PARENT +DEPTH +PRINCIPAL", run.stdout, re.M)
        report = os.path.join(os.path.dirname(audit_dir), "scopegate-tour-report.md")
        with open(report) as f:
            assert f.read().startswith("# Scope footprint report")
        os.unlink(report)
    finally:
        gw.stop()
        upstream.stop()

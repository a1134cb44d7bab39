"""The examples run as written: the example config is valid, and the README's tour
(examples/tour.sh) passes against the gateway on examples/scopegate.yaml with the demo tool server."""
import os
import re
import subprocess
import tempfile

from harness import BIN, MODEL_UPSTREAM, ROOT, Gateway, Upstream, free_port

# The example config names ../policies relative to itself; the harness writes it elsewhere.
POLICY_DIR = os.path.join(ROOT, "policies")


def test_example_config_is_valid():
    env = dict(os.environ, SCOPEGATE_TOKEN_KEY="ab" * 32)
    out = subprocess.run([BIN, "check", "--config", os.path.join(ROOT, "examples", "scopegate.yaml")],
                         capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stdout + out.stderr


def test_the_tour_runs_as_written():
    upstream, upstream_b = Upstream("demo-tools"), Upstream("demo-tools-b")
    models = Upstream("demo-models", script=MODEL_UPSTREAM)
    with open(os.path.join(ROOT, "examples", "scopegate.yaml")) as f:
        yaml_text = f.read()
    audit_dir = tempfile.mkdtemp(prefix="scopegate-tour-audit-")
    env = {"SCOPEGATE_TOKEN_KEY": "cd" * 32, "SCOPEGATE_ADMIN_TOKEN": "tour-admin", "SCOPEGATE_PORT": "0",
           "SCOPEGATE_ADMIN_PORT": "0", "DEMO_UPSTREAM_PORT": str(upstream.port), "SCOPEGATE_AUDIT_DIR": audit_dir,
           "SCOPEGATE_POLICY_DIR": POLICY_DIR, "DEMO_UPSTREAM_B_PORT": str(upstream_b.port),
           "DEMO_MODEL_PORT": str(models.port)}
    gw = Gateway(yaml_text, env=env)
    try:
        # The variables scripts/demo.sh writes to build/demo.env for the second terminal.
        run = subprocess.run(["bash", os.path.join(ROOT, "examples", "tour.sh")], capture_output=True, text=True,
                             timeout=120, env=dict(os.environ, SCOPEGATE_PORT=str(gw.port),
                                                   SCOPEGATE_ADMIN_PORT=str(gw.admin_port),
                                                   SCOPEGATE_ADMIN_TOKEN="tour-admin", SCOPEGATE_AUDIT_DIR=audit_dir,
                                                   SCOPEGATE=BIN))
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr
        assert '"delegation-depth", "1"' in run.stdout.lower().replace("'", '"')
        # The audit steps: the footprint lists the child, never answers NEVER with the refused
        # upload as an attempt, and the chain verifies.
        assert "NEVER:" in run.stdout and "1 denied attempt(s)" in run.stdout
        assert "tools:      search" in run.stdout and "intact, seq 1.." in run.stdout
        assert "denied: the scope was not granted this action (grant_exceeded)" in run.stdout
        # The policy step: the refusal names its rule and reason, explain agrees, /v1/policies lists it.
        assert '"rule":"hr-lookup-no-wildcard"' in run.stdout and "wildcards and patterns are not allowed" in run.stdout
        assert '"id":"hr-lookup-no-wildcard"' in run.stdout.replace(" ", "")
        assert re.search(r"^SCOPE +PARENT +DEPTH +PRINCIPAL", run.stdout, re.M)
        report = os.path.join(os.path.dirname(audit_dir), "scopegate-tour-report.md")
        with open(report) as f:
            assert f.read().startswith("# Scope footprint report")
        os.unlink(report)
        # The resilience step: both endpoints of the search route, each with a closed breaker.
        for u in (upstream, upstream_b):
            assert re.search(r"search -> 127\.0\.0\.1:%d +weight 1, in flight 0, breaker closed" % u.port, run.stdout)
        # The model step: both calls' usage and cost from their records (4 words in, as asked out).
        assert re.search(r"gpt-4o +chat +4 tokens in, 6 out, cost 0\.00007 USD", run.stdout), run.stdout[-3000:]
        assert re.search(r"gpt-4o-mini +chat +3 tokens in, 3 out, cost 0\.00000225 USD", run.stdout)
        assert "models:     gpt-4o, gpt-4o-mini; 2 model calls" in run.stdout
    finally:
        gw.stop()
        upstream.stop()
        upstream_b.stop()
        models.stop()


def test_the_tour_says_where_it_looked_when_no_gateway_answers():
    """Not curl's bare exit 7: what the tour expected, where, and how to point it elsewhere."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SCOPEGATE_", "GW", "ADMIN"))}
    port, admin_port = free_port(), free_port()
    run = subprocess.run(["bash", os.path.join(ROOT, "examples", "tour.sh")], capture_output=True, text=True,
                         timeout=60, env=dict(env, SCOPEGATE_PORT=str(port), SCOPEGATE_ADMIN_PORT=str(admin_port)))
    assert run.returncode == 1
    assert run.stderr.startswith("tour: no answer (curl exit 7) at http://127.0.0.1:%d, where the tour expects "
                                 "the demo's admin listener." % admin_port), run.stderr
    assert "source build/demo.env" in run.stderr and "(here: %d and %d)" % (port, admin_port) in run.stderr

    # The admin listener answers but the data listener is elsewhere: the first step says so.
    upstream = Upstream("demo-tools")
    audit_dir = tempfile.mkdtemp(prefix="scopegate-tour-audit-")
    with open(os.path.join(ROOT, "examples", "scopegate.yaml")) as f:
        gw = Gateway(f.read(), env={"SCOPEGATE_TOKEN_KEY": "cd" * 32, "SCOPEGATE_PORT": "0",
                                    "SCOPEGATE_ADMIN_PORT": "0", "DEMO_UPSTREAM_PORT": str(upstream.port),
                                    "SCOPEGATE_AUDIT_DIR": audit_dir, "SCOPEGATE_POLICY_DIR": POLICY_DIR})
    try:
        run = subprocess.run(["bash", os.path.join(ROOT, "examples", "tour.sh")], capture_output=True, text=True,
                             timeout=60, env=dict(env, SCOPEGATE_PORT=str(port),
                                                  SCOPEGATE_ADMIN_PORT=str(gw.admin_port)))
        assert run.returncode == 1
        assert "tour: no answer (curl exit 7) at http://127.0.0.1:%d/tools/search/hello, where the tour expects " \
               "the demo's gateway." % port in run.stderr, run.stderr
    finally:
        gw.stop()
        upstream.stop()

"""The examples run as written: the example config is valid, and the README's tour
(examples/tour.sh) passes against the gateway on examples/scopegate.yaml with the demo tool server."""
import os
import subprocess

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
    env = {"SCOPEGATE_TOKEN_KEY": "cd" * 32, "SCOPEGATE_ADMIN_TOKEN": "tour-admin", "SCOPEGATE_PORT": "0",
           "SCOPEGATE_ADMIN_PORT": "0", "DEMO_UPSTREAM_PORT": str(upstream.port)}
    gw = Gateway(yaml_text, env=env)
    try:
        run = subprocess.run(["bash", os.path.join(ROOT, "examples", "tour.sh")], capture_output=True, text=True,
                             timeout=120, env=dict(os.environ, GW="http://127.0.0.1:%d" % gw.port,
                                                   ADMIN="http://127.0.0.1:%d" % gw.admin_port,
                                                   ADMIN_TOKEN="tour-admin"))
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr
        assert '"delegation-depth", "1"' in run.stdout.lower().replace("'", '"')
    finally:
        gw.stop()
        upstream.stop()

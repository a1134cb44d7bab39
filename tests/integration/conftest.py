import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from harness import MODEL_UPSTREAM, Gateway, Redis, Upstream  # noqa: E402


@pytest.fixture(scope="module")
def upstream():
    u = Upstream("tools-a")
    yield u
    u.stop()


@pytest.fixture(scope="module")
def upstream_b():
    u = Upstream("tools-b")
    yield u
    u.stop()


@pytest.fixture(scope="module")
def model_server():
    """The stand-in model server (examples/upstreams/model_upstream.py): OpenAI's and Anthropic's APIs."""
    u = Upstream("models", script=MODEL_UPSTREAM)
    yield u
    u.stop()


@pytest.fixture
def start_gateway():
    """Starts real scopegate processes; every one is stopped (and must exit) at teardown."""
    started = []

    def start(yaml_text, **kwargs):
        g = Gateway(yaml_text, **kwargs)
        started.append(g)
        return g

    yield start
    for g in started:
        g.stop()


@pytest.fixture
def redis():
    """A real redis-server on loopback (fleet mode, docs/fleet.md), removed at teardown."""
    r = Redis()
    yield r
    r.stop()

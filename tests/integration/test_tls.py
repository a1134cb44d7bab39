"""TLS on both sides with certificates the test makes with openssl: a TLS listener, mTLS, and an
https upstream with SNI and certificate verification. The client is curl."""
import json
import os
import subprocess
import tempfile

import pytest

from harness import AGENT_KEYS, TOKEN_ENV, Gateway, Upstream, agent_yaml, config, delegation_config, route


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_ca(d, name):
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=%s" % name,
            "-keyout", name + ".key", "-out", name + ".pem", cwd=d)


def make_cert(d, ca, name, san):
    ext = os.path.join(d, name + ".ext")
    with open(ext, "w") as f:
        f.write("subjectAltName=%s\nextendedKeyUsage=serverAuth,clientAuth\n" % san)
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=%s" % name, "-keyout", name + ".key",
            "-out", name + ".csr", cwd=d)
    openssl("x509", "-req", "-in", name + ".csr", "-CA", ca + ".pem", "-CAkey", ca + ".key", "-CAcreateserial",
            "-days", "2", "-extfile", ext, "-out", name + ".pem", cwd=d)


@pytest.fixture(scope="module")
def pki():
    d = tempfile.mkdtemp(prefix="scopegate-pki-")
    make_ca(d, "ca")
    make_ca(d, "other-ca")
    make_cert(d, "ca", "server", "DNS:localhost,IP:127.0.0.1")
    make_cert(d, "ca", "agent", "DNS:planner.agents.example")
    make_cert(d, "other-ca", "intruder", "DNS:intruder.example")
    return lambda name: os.path.join(d, name)


@pytest.fixture(scope="module")
def tls_upstream(pki):
    u = Upstream("tls-tools", cert=pki("server.pem"), key=pki("server.key"))
    yield u
    u.stop()


def curl(url, *args):
    r = subprocess.run(["curl", "-sS", "-o", "-", "-w", "\n%{http_code}", *args, url], capture_output=True, text=True,
                       timeout=20)
    body, _, code = r.stdout.rpartition("\n")
    return int(code or 0), body, r.stderr


def tls_listener(pki, client_ca=False):
    tls = "{ certificate: %s, key: %s%s }" % (pki("server.pem"), pki("server.key"),
                                               ", client_ca: %s" % pki("ca.pem") if client_ca else "")
    return "  - name: data\n    address: 127.0.0.1\n    port: 0\n    tls: %s\n" % tls


def test_tls_listener(pki, upstream, start_gateway):
    g = start_gateway(config(route("t", "/t", upstream.url, strip_prefix="true"), listeners=tls_listener(pki)))
    code, body, err = curl("https://localhost:%d/t/echo" % g.port, "--cacert", pki("ca.pem"))
    assert code == 200, err
    echoed = json.loads(body)
    headers = {k.lower(): v for k, v in echoed["headers"]}
    assert headers["x-forwarded-proto"] == "https"
    assert "proto=https" in headers["forwarded"]
    # A client that does not trust the gateway's CA refuses it.
    code, _, err = curl("https://localhost:%d/t/echo" % g.port, "--cacert", pki("other-ca.pem"))
    assert code == 0 and "certificate" in err.lower()


def test_mtls_listener_requires_a_client_certificate(pki, upstream, start_gateway):
    g = start_gateway(config(route("t", "/t", upstream.url, strip_prefix="true"),
                             listeners=tls_listener(pki, client_ca=True)))
    url = "https://localhost:%d/t/echo" % g.port
    code, _, _ = curl(url, "--cacert", pki("ca.pem"))
    assert code == 0  # handshake refused without a certificate
    code, _, _ = curl(url, "--cacert", pki("ca.pem"), "--cert", pki("intruder.pem"), "--key", pki("intruder.key"))
    assert code == 0  # a certificate from another CA is refused too
    code, body, err = curl(url, "--cacert", pki("ca.pem"), "--cert", pki("agent.pem"), "--key", pki("agent.key"))
    assert code == 200, err


def test_https_upstream_verified_with_sni_and_pooled(pki, tls_upstream, start_gateway):
    port = tls_upstream.port
    routes = (route("good", "/good", "{ url: https://localhost:%d, ca_file: %s }" % (port, pki("ca.pem")),
                    strip_prefix="true") +
              route("wrong-ca", "/wrong-ca", "{ url: https://localhost:%d, ca_file: %s }" % (port, pki("other-ca.pem")),
                    strip_prefix="true") +
              route("wrong-name", "/wrong-name",
                    "{ url: https://127.0.0.1:%d, ca_file: %s, server_name: tools.example }" % (port, pki("ca.pem")),
                    strip_prefix="true") +
              route("ip-name", "/ip", "{ url: https://127.0.0.1:%d, ca_file: %s }" % (port, pki("ca.pem")),
                    strip_prefix="true"))
    g = start_gateway(config(routes).replace("workers: 2", "workers: 1"))
    base = "http://127.0.0.1:%d" % g.port
    connections = set()
    for _ in range(5):
        code, body, err = curl(base + "/good/conn")
        assert code == 200, body
        connections.add(json.loads(body)["connection"])
    assert len(connections) == 1  # one TLS connection, kept alive and reused
    code, body, _ = curl(base + "/ip/echo")
    assert code == 200  # the certificate's IP SAN matches
    for path in ("/wrong-ca/echo", "/wrong-name/echo"):
        code, body, _ = curl(base + path)
        assert code == 502, body
        error = json.loads(body)["error"]
        assert error["code"] == "upstream_unavailable" and "tls" in error["message"]


def test_check_refuses_bad_tls_material(pki, tmp_path):
    from harness import BIN
    cfg = tmp_path / "gw.yaml"
    cfg.write_text(config(route("t", "/t", "http://127.0.0.1:1"),
                          listeners="  - name: data\n    port: 0\n    tls: { certificate: %s, key: %s }\n"
                          % (pki("server.pem"), pki("agent.key"))))
    r = subprocess.run([BIN, "check", "--config", str(cfg)], capture_output=True, text=True)
    assert r.returncode == 1
    assert "listeners[0].tls" in r.stderr and "key" in r.stderr


def test_agents_authenticate_by_client_certificate(pki, upstream, start_gateway):
    """On an mTLS listener a verified client certificate names the agent (RFC 2253 subject); a key
    in the credential header still works and takes precedence; an unknown subject is no agent."""
    agents = (agent_yaml("planner", may_open_root=True) +
              "  - id: cert-agent\n    certificate_subject: \"CN=agent\"\n    grants: [\"tool:*\"]\n")
    g = start_gateway(delegation_config(route("t", "/t", upstream.url, strip_prefix="true", access="authenticated"),
                                        agents=agents, listeners=tls_listener(pki, client_ca=True)),
                      env=TOKEN_ENV)
    base = "https://localhost:%d" % g.port
    cert = ("--cacert", pki("ca.pem"), "--cert", pki("agent.pem"), "--key", pki("agent.key"))
    code, body, err = curl(base + "/t/echo", *cert)
    assert code == 200, err
    headers = {k.lower(): v for k, v in json.loads(body)["headers"]}
    assert headers["delegation-actor"] == "cert-agent"
    # The certificate's agent opens nothing it may not: it may not open roots.
    code, body, err = curl(base + "/v1/scopes", *cert, "-X", "POST", "-d", '{"principal": "user:x"}')
    assert code == 403 and json.loads(body)["error"]["code"] == "policy_denied"
    # An explicit key wins over the certificate.
    code, body, err = curl(base + "/t/echo", *cert, "-H", "Authorization: Bearer " + AGENT_KEYS["planner"])
    assert code == 200
    assert {k.lower(): v for k, v in json.loads(body)["headers"]}["delegation-actor"] == "planner"

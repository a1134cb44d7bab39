"""The forensic queries as an analyst meets them (issue 10, docs/audit.md): ids shortened to a prefix,
the chain status in every format, `query scopes` to find where to start, readable tables and the
one-file reports, and a config read for its audit section only. Real binary, real log."""
import html.parser
import json
import os
import re
import time

import pytest

from audit_helpers import cli, query, records, segments
from harness import TOKEN_ENV, agent_yaml, delegation_config, open_root, open_scope, request, auth, route
from test_audit import schema_validator


def get(gw, path, token, agent):
    return request("127.0.0.1", gw.port, "GET", path, headers=auth(agent, token))[0]


@pytest.fixture
def world(start_gateway, upstream, tmp_path):
    """root (planner for user:alice) → A (researcher) → A1 (writer); root2 (planner for user:bob).
    A searches twice and is refused hr once; A1 searches once; root2 searches once."""
    d = str(tmp_path / "audit")
    checkpoints = str(tmp_path / "checkpoints")
    code, _, err = cli("audit", "keygen", "--out", str(tmp_path / "signing"))
    assert code == 0, err
    agents = (agent_yaml("planner", may_open_root=True) + agent_yaml("researcher", grants=["tool:*", "agent:*"]) +
              agent_yaml("writer"))
    routes = (route("search", "/tools/search", upstream.url, access="scoped", strip_prefix="true",
                    datasets="[web-index]") +
              route("hr", "/tools/hr", upstream.url, access="scoped", strip_prefix="true", datasets="[hr-records]"))
    audit = ("audit:\n  dir: %s\n  checkpoints:\n    dir: %s\n    every_records: 3\n    private_key_file: %s\n"
             % (d, checkpoints, tmp_path / "signing.key"))
    gw = start_gateway(delegation_config(routes, agents=agents, extra=audit), env=TOKEN_ENV)
    root, root_token = open_root(gw, grants=["tool:*", "agent:*"], objective="quarterly <review> | Q3")
    status, a = open_scope(gw, "planner", {"agent": "researcher", "grants": ["tool:search", "agent:writer"],
                                           "objective": "Find staff numbers"}, token=root_token)
    assert status == 201
    status, a1 = open_scope(gw, "researcher", {"agent": "writer", "grants": ["tool:search"],
                                               "objective": "look up headcount"}, token=a["token"])
    assert status == 201
    root2, root2_token = open_root(gw, grants=["tool:search"], principal="user:bob", objective="weekly digest")
    assert get(gw, "/tools/search/q", a["token"], "researcher") == 200
    assert get(gw, "/tools/hr/q", a["token"], "researcher") == 403
    assert get(gw, "/tools/search/q2", a["token"], "researcher") == 200
    assert get(gw, "/tools/search/q", a1["token"], "writer") == 200
    assert get(gw, "/tools/search/q", root2_token, "planner") == 200
    gw.stop()
    return {"dir": d, "root": root["id"], "A": a["scope"]["id"], "A1": a1["scope"]["id"], "root2": root2["id"],
            "tmp": tmp_path, "checkpoints": checkpoints, "pub": str(tmp_path / "signing.pub")}


def without_timing(answer):
    answer["scanned"].pop("seconds")
    return answer


def test_a_unique_prefix_answers_as_the_full_id_and_an_ambiguous_one_lists_its_candidates(world):
    d, root = world["dir"], world["root"]
    code, full = query("footprint", root, d)
    assert code == 0
    code, short = query("footprint", root[:30], d)
    assert code == 0 and without_timing(short) == without_timing(full)

    ids = [world[k] for k in ("root", "A", "A1", "root2")]
    common = os.path.commonprefix(ids)  # UUIDv7: ids made in the same second share their time prefix
    assert len(common) >= 8
    for verb in ("footprint", "tree", "actions", "never"):
        extra = ("--tool", "hr") if verb == "never" else ()
        code, out, err = cli("query", verb, common[:8], "--log", d, *extra)
        assert code == 2 and out == "", (verb, code, out, err)
        assert "give more of the one you mean" in err
        assert all(("  " + i + "\n") in err for i in ids), err
    code, out, err = cli("query", "never", "ffffffff", "--log", d, "--tool", "hr")
    assert code == 2 and out == "" and "starts with 'ffffffff'" in err
    # never through a prefix still proves: A's own records never touched hr (the attempt is listed).
    code, ans = query("never", world["A"][:32], d, "--tool", "hr", "--no-descendants")
    assert code == 0 and ans["scope"] == world["A"] and len(ans["attempts"]) == 1


def test_tables_show_full_ids_who_delegated_for_whom_and_sizes_and_reasons_in_words(world):
    d = world["dir"]
    code, text, _ = cli("query", "footprint", world["root"], "--log", d)
    assert code == 0
    for k in ("root", "A", "A1"):
        assert world[k] in text  # whole ids: a pasted id answers
    assert "principal:  user:alice" in text
    assert "actor:      researcher, delegated by planner" in text
    assert "actor:      writer, delegated by researcher" in text
    assert re.search(r"\d+(\.\d)? (B|KiB) in, \d+(\.\d)? (B|KiB) out", text)
    assert "evidence: hash chain NOT VERIFIED" in text  # a table never stands without its evidence line

    code, text, _ = cli("query", "actions", world["A"], "--log", d, "--no-descendants")
    assert code == 0
    lines = text.splitlines()
    assert lines[0].split() == ["TIME", "NODE#SEQ", "SCOPE", "AGENT", "ACTION", "DECISION"]
    rows = [l for l in lines[1:] if world["A"] in l]
    assert len(rows) == 4  # opening A1 was A's action too
    assert sum("denied: the scope was not granted this action (grant_exceeded)" in r for r in rows) == 1
    assert sum(re.search(r"allowed: 20[01], \d+(\.\d)? (B|KiB) out", r) is not None for r in rows) == 3

    code, text, _ = cli("query", "footprint", world["root"], "--log", d, "--format", "csv")
    header, *rows = text.splitlines()
    columns = header.split(",")
    assert {"delegator", "principal", "chain"} <= set(columns)
    by_scope = {r.split(",")[0]: dict(zip(columns, r.split(","))) for r in rows}
    assert by_scope[world["A"]]["delegator"] == "planner"
    assert by_scope[world["A1"]]["principal"] == "user:alice"
    assert by_scope[world["A"]]["chain"] == "unverified"


def damage_a_record_of(d, scope_id):
    """Changes one byte of the first request record of `scope_id`, leaving its hash as it was."""
    name = segments(d)[-1]
    path = os.path.join(d, name)
    with open(path) as f:
        lines = f.readlines()
    for i, line in enumerate(lines):
        if '"event":"request"' in line and scope_id in line and '"bytes_in":0' in line:
            lines[i] = line.replace('"bytes_in":0', '"bytes_in":1', 1)
            seq = json.loads(line)["seq"]
            break
    else:
        raise AssertionError("no record to damage")
    with open(path, "w") as f:
        f.writelines(lines)
    return seq


def test_verify_shows_the_chain_status_in_every_format_and_a_broken_chain_exits_non_zero(world):
    d, root = world["dir"], world["root"]
    for verb in ("footprint", "tree", "actions"):
        code, text, _ = cli("query", verb, root, "--log", d, "--verify")
        assert code == 0, (verb, text)
        lines = text.splitlines()
        assert lines[0].startswith("evidence: hash chain VERIFIED") and lines[-2].startswith("evidence: hash chain VERIFIED")
    code, text, _ = cli("query", "scopes", "--log", d, "--verify")
    assert code == 0 and text.startswith("evidence: hash chain VERIFIED")

    seq = damage_a_record_of(d, world["root2"])  # another tree's record: root's answers still speak
    for verb in ("footprint", "tree", "actions"):
        code, text, _ = cli("query", verb, root, "--log", d, "--verify")
        assert code == 1, (verb, code, text)
        lines = text.splitlines()
        for line in (lines[0], lines[-2]):
            assert line.startswith("evidence: hash chain BROKEN") and ("at seq %d " % seq) in line, line
        code, text, _ = cli("query", verb, root, "--log", d, "--verify", "--format", "csv")
        header, *rows = text.splitlines()
        assert code == 1 and header.endswith(",chain") and rows and all(r.endswith(",broken") for r in rows), text
        code, ans = query(verb, root, d, "--verify")
        assert code == 1 and ans["scanned"]["chain"] == "broken"
        assert ans["scanned"]["nodes"][0]["problem"]["seq"] == seq
        schema_validator("query-%s.schema.json" % verb).validate(ans)
    code, text, _ = cli("query", "scopes", "--log", d, "--verify", "--format", "csv")
    assert code == 1 and all(r.endswith(",broken") for r in text.splitlines()[1:])
    # Without --verify nothing claims to be verified, and the answer stands (exit 0).
    code, text, _ = cli("query", "footprint", root, "--log", d)
    assert code == 0 and "hash chain NOT VERIFIED" in text.splitlines()[-2]
    # never keeps its own 0/1/2.
    assert cli("query", "never", root, "--log", d, "--tool", "nonexistent")[0] == 2


def test_query_scopes_finds_where_to_start(world):
    d = world["dir"]
    validator = schema_validator("query-scopes.schema.json")

    def scopes(*extra):
        code, out, err = cli("query", "scopes", "--log", d, "--format", "json", *extra)
        ans = json.loads(out)
        validator.validate(ans)
        return code, {s["id"]: s for s in ans["scopes"]}

    code, every = scopes()
    assert code == 0 and set(every) == {world[k] for k in ("root", "A", "A1", "root2")}
    a = every[world["A"]]
    assert (a["parent"], a["depth"], a["principal"], a["actor"], a["delegator"], a["objective"]) == (
        world["root"], 1, "user:alice", "researcher", "planner", "Find staff numbers")
    assert (a["allowed"], a["denied"]) == (3, 1) and a["first_seen"] <= a["last_seen"]
    assert every[world["root2"]]["principal"] == "user:bob"

    assert set(scopes("--principal", "user:bob")[1]) == {world["root2"]}
    assert set(scopes("--principal", "user:alice")[1]) == {world[k] for k in ("root", "A", "A1")}
    assert set(scopes("--agent", "writer")[1]) == {world["A1"]}
    assert set(scopes("--root-only")[1]) == {world["root"], world["root2"]}
    assert set(scopes("--objective", "STAFF")[1]) == {world["A"]}
    assert set(scopes("--root-only", "--principal", "user:alice")[1]) == {world["root"]}
    assert set(scopes("--until", "2099-01-01")[1]) == set(every)
    code, none = scopes("--since", "2099-01-01")
    assert code == 1 and none == {}
    code, text, _ = cli("query", "scopes", "--log", d, "--principal", "user:nobody")
    assert code == 1 and "no scope matches" in text
    # The table: a header, one row per scope, full ids.
    code, text, _ = cli("query", "scopes", "--log", d, "--agent", "researcher")
    assert code == 0 and text.splitlines()[0].split()[:3] == ["SCOPE", "PARENT", "DEPTH"] and world["A"] in text
    assert cli("query", "scopes", world["A"], "--log", d)[0] == 64  # scopes takes no SCOPE
    assert cli("query", "footprint", world["A"], "--log", d, "--principal", "x")[0] == 64


class _Tags(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.stack, self.text, self.bad = [], [], False

    def handle_starttag(self, tag, attrs):
        if tag not in ("meta",):
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if not self.stack or self.stack.pop() != tag:
            self.bad = True

    def handle_data(self, data):
        self.text.append(data)


def test_footprint_reports_in_html_and_markdown_carry_tree_footprints_and_evidence(world):
    d, root = world["dir"], world["root"]
    code, page, err = cli("query", "footprint", root, "--log", d, "--format", "html")
    assert code == 0, err
    assert page.startswith("<!DOCTYPE html>")
    tags = _Tags()
    tags.feed(page)
    assert not tags.bad and tags.stack == []  # every element closed, in order
    text = "".join(tags.text)
    assert "<review>" not in page and "&lt;review&gt;" in page  # an objective is text, never markup
    for k in ("root", "A", "A1"):
        assert world[k] in text
    assert world["root2"] not in text
    for heading in ("Delegation tree", "Footprint of each scope", "Evidence"):
        assert heading in text
    assert "verified" in text and "Signed checkpoints" in text

    code, md, _ = cli("query", "footprint", root, "--log", d, "--format", "md")
    assert code == 0 and md.startswith("# Scope footprint report: " + root)
    assert "## Delegation tree" in md and "## Evidence" in md and "| hash chain |" in md
    assert "quarterly \\<review\\> \\| Q3" in md  # table and markup characters escaped
    assert "researcher" in md and "user:alice" in md
    assert cli("query", "tree", root, "--log", d, "--format", "html")[0] == 64

    # A damaged log makes the report say so and exit 1.
    damage_a_record_of(d, world["root2"])
    code, md, _ = cli("query", "footprint", root, "--log", d, "--format", "md")
    assert code == 1 and "BROKEN at seq" in md and "may be incomplete or wrong" in md


def test_queries_read_only_the_audit_section_of_a_config(world):
    """An analyst's machine has the log, not the gateway's secrets: keys the config names by
    environment variable or file are neither needed nor touched."""
    d, tmp = world["dir"], world["tmp"]
    cfg = tmp / "gateway.yaml"
    cfg.write_text("node: gw-a\nlisteners: [{name: main, port: 1}]\n"
                   "token:\n  keys:\n    - { kid: k1, secret_env: SG_NOT_SET_ANYWHERE }\n"
                   "admin:\n  token: ${SG_NOT_SET_EITHER}\n"
                   "audit:\n  dir: %s\n  checkpoints:\n    dir: /elsewhere\n"
                   "    private_key_file: /nonexistent/signing.key\n" % d)
    code, out, err = cli("query", "footprint", world["root"], "--config", str(cfg), "--format", "json")
    assert code == 0, err
    assert json.loads(out)["scopes"][0]["id"] == world["root"]
    assert cli("audit", "verify", "--config", str(cfg))[0] == 0
    # check says each secret is missing and passes the rest; where the gateway runs, it would refuse.
    code, _, err = cli("check", "--config", str(cfg))
    assert code == 0 and err.count("warning: ") == 3, err
    assert cli("check", "--config", str(cfg), "--require-secrets")[0] == 1
    bad = tmp / "bad.yaml"
    bad.write_text("audit:\n  dir: %s\n  durability: sometimes\n" % d)
    code, out, err = cli("query", "scopes", "--config", str(bad))
    assert code == 64 and "audit.durability" in err and "bad.yaml:3" in err


def test_the_admin_footprint_of_an_unknown_scope_is_404_not_an_empty_footprint(start_gateway, upstream, tmp_path):
    d = str(tmp_path / "audit")
    gw = start_gateway(delegation_config(route("search", "/tools/search", upstream.url, access="scoped"),
                                         extra="audit:\n  dir: %s\n" % d), env=TOKEN_ENV)
    root, _ = open_root(gw, grants=["tool:search"])
    deadline = time.time() + 5  # batch mode: the record reaches the file a moment after the answer
    while True:
        status, _, body = request("127.0.0.1", gw.admin_port, "GET", "/v1/scopes/%s/footprint" % root["id"])
        if status == 200 or time.time() > deadline:
            break
        time.sleep(0.05)
    assert status == 200 and json.loads(body)["scopes"][0]["id"] == root["id"]
    unknown = "01900000-0000-7000-8000-000000000000"
    status, _, body = request("127.0.0.1", gw.admin_port, "GET", "/v1/scopes/%s/footprint" % unknown)
    error = json.loads(body)["error"]
    assert status == 404 and error["code"] == "no_route" and unknown in error["message"]


def test_a_report_holds_the_log_against_its_signed_checkpoints(world):
    """The chain cannot show records cut from its end; the checkpoints can, and the report says so."""
    d, root = world["dir"], world["root"]
    signed = ("--checkpoints", world["checkpoints"], "--public-key", world["pub"])
    code, md, err = cli("query", "footprint", root, "--log", d, "--format", "md", *signed)
    assert code == 0, err
    assert "consistent with the logs" in md and "DAMAGE" not in md
    code, text, _ = cli("query", "footprint", root, "--log", d, *signed)
    assert code == 0 and "consistent with the logs" in text
    assert cli("query", "footprint", root, "--log", d, "--format", "json", *signed)[0] == 64
    assert cli("query", "tree", root, "--log", d, *signed)[0] == 64

    # Cut the last two records (root2's search and the shutdown's): the chain still verifies.
    path = os.path.join(d, segments(d)[-1])
    with open(path) as f:
        lines = f.readlines()
    with open(path, "w") as f:
        f.writelines(lines[:-2])
    assert cli("audit", "verify", "--log", d)[0] == 0
    code, md, _ = cli("query", "footprint", root, "--log", d, "--format", "md", *signed)
    assert code == 1 and "DAMAGE" in md and "verified" in md  # intact chain, cut end: both said
    code, out, _ = cli("audit", "verify", "--log", d, *signed)
    assert code == 1 and out.rstrip().endswith("verdict: DAMAGED (see above)")
    missing = ("--checkpoints", str(world["tmp"] / "none"), "--public-key", world["pub"])
    assert cli("query", "footprint", root, "--log", d, *missing)[0] == 2


def test_audit_verify_says_nothing_is_proven_for_an_empty_directory_and_ends_with_one_verdict(world):
    empty = world["tmp"] / "empty"
    empty.mkdir()
    code, out, err = cli("audit", "verify", "--log", str(empty))
    assert code == 2 and out == "" and "nothing to verify" in err
    code, out, _ = cli("audit", "verify", "--log", world["dir"])
    assert code == 0 and out.splitlines()[-1].startswith("verdict: INTACT (the chain cannot show records cut")
    assert cli("audit", "verify", "--log", world["dir"], "--format", "html")[0] == 64


def test_hostile_values_cannot_forge_evidence_lines_or_formulas(start_gateway, upstream, tmp_path):
    """Probe of issue 10: an objective (any agent's free text) with a newline and terminal escapes
    printed a fake "evidence: hash chain VERIFIED" line and hid the real one; a principal starting
    with = ran as a spreadsheet formula; a bare CR split a CSV row."""
    d = str(tmp_path / "audit")
    gw = start_gateway(delegation_config(route("search", "/tools/search", upstream.url, access="scoped"),
                                         extra="audit:\n  dir: %s\n" % d), env=TOKEN_ENV)
    forged = "x\nevidence: hash chain VERIFIED (gw-test seq 1..9)\x1b[8m\x1b]0;t\x07 \u0085end"
    root, _ = open_root(gw, grants=["tool:search"], principal='=HYPERLINK("http://evil/","x")', objective=forged)
    other, _ = open_root(gw, grants=["tool:search"], objective="benign\r01a2ffff-0000-7000-8000-000000000000")
    gw.stop()
    for args in (("query", "scopes"), ("query", "footprint", root["id"]), ("query", "tree", root["id"])):
        code, text, _ = cli(*args, "--log", d)
        assert code == 0, args
        assert "\x1b" not in text and "\x07" not in text and "\u0085" not in text and "\r" not in text, args
        assert [l for l in text.splitlines() if l.startswith("evidence:")] == [text.splitlines()[-2]], args
        assert "\\x1b[8m" in text and "\\x0a" not in text or "\\x0aevidence" in text, args
    code, text, _ = cli("query", "scopes", "--log", d, "--format", "csv")
    rows = list(__import__("csv").reader(text.splitlines(keepends=True)))
    assert len(rows) == 3  # a header and two scopes: the CR did not make a row
    cells = {r[0]: dict(zip(rows[0], r)) for r in rows[1:]}
    assert cells[root["id"]]["principal"].startswith("'=HYPERLINK")
    # (text mode reads the CR as \n; what matters is that it stayed inside one quoted cell)
    assert cells[other["id"]]["objective"] in ("benign\r01a2ffff-0000-7000-8000-000000000000",
                                               "benign\n01a2ffff-0000-7000-8000-000000000000")
    code, md, _ = cli("query", "footprint", root["id"], "--log", d, "--format", "md")
    assert "\x1b" not in md and "\\~" not in md and "http\\://evil" in md
    # never's CSV ends with the evidence it stands on, even with nothing to list.
    code, text, _ = cli("query", "never", root["id"], "--log", d, "--tool", "x", "--format", "csv")
    assert code == 0 and text.splitlines()[-1].startswith("evidence,") and text.splitlines()[-1].endswith(",verified")


def test_checkpoints_that_cover_nothing_prove_nothing(world):
    """Probe of issue 10: --checkpoints one directory too high, or every checkpoint deleted, said
    INTACT with exit 0. A node no valid checkpoint covers now leaves the end unproven: exit 2."""
    d, pub = world["dir"], world["pub"]
    code, out, _ = cli("audit", "verify", "--log", d, "--checkpoints", world["checkpoints"], "--public-key", pub)
    assert code == 0 and out.splitlines()[-1] == "verdict: INTACT"
    parent = os.path.dirname(world["checkpoints"])
    code, out, _ = cli("audit", "verify", "--log", d, "--checkpoints", parent, "--public-key", pub)
    assert code == 2 and out.splitlines()[-1].startswith("verdict: NOT PROVEN: no checkpoint covers node gw-test")
    code, out, _ = cli("audit", "verify", "--log", d, "--checkpoints", parent, "--public-key", pub, "--format", "json")
    report = json.loads(out)
    assert code == 2 and report["uncovered"] == ["gw-test"]
    schema_validator("audit-verify.schema.json").validate(report)
    node_dir = os.path.join(world["checkpoints"], "gw-test")
    for name in os.listdir(node_dir):
        os.unlink(os.path.join(node_dir, name))
    assert cli("audit", "verify", "--log", d, "--checkpoints", world["checkpoints"], "--public-key", pub)[0] == 2


def test_a_node_name_of_dots_alone_is_refused(tmp_path):
    for node in (".", ".."):
        cfg = tmp_path / "gw.yaml"
        cfg.write_text("node: '%s'\nlisteners: [{port: 0}]\n" % node)
        code, out, err = cli("check", "--config", str(cfg))
        assert code != 0 and "node" in (out + err) and "dots alone" in (out + err), (node, out, err)


def test_an_empty_time_range_says_so_rather_than_blaming_the_id(world):
    code, out, err = cli("query", "footprint", world["root"], "--log", world["dir"], "--since", "2099-01-01")
    assert code == 2 and "no record between 2099-01-01T00:00:00.000000Z and the end" in err and "time range" in err


def test_a_delegated_scope_keeps_who_delegated_it_when_the_range_starts_after_its_opening(world):
    d = world["dir"]
    code, acts = query("actions", world["A"], d, "--no-descendants")
    since = acts["records"][1]["ts"]  # after A was opened (and after its first request)
    code, fp = query("footprint", world["A"], d, "--since", since, "--no-descendants")
    assert code == 0
    s = fp["scopes"][0]
    assert (s["delegator"], s["principal"], s["objective"]) == ("planner", "user:alice", "Find staff numbers")

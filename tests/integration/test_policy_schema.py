"""schema/policy.schema.json describes the policy files: every example in policies/ validates against
it, and the mistakes the loader refuses by key (unknown keys, empty lists, wrong types) are refused
by the schema too. (The gateway's own loader is tested in tests/policy/policy_test.cpp.)"""
import glob
import json
import os

import jsonschema
import pytest
import yaml

ROOT = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", ".."))


def validator():
    with open(os.path.join(ROOT, "schema", "policy.schema.json")) as f:
        schema = json.load(f)
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def examples():
    return sorted(glob.glob(os.path.join(ROOT, "policies", "*.yaml")))


def test_there_are_examples():
    assert len(examples()) == 5


@pytest.mark.parametrize("path", examples(), ids=os.path.basename)
def test_example_validates(path):
    with open(path) as f:
        policy = yaml.safe_load(f)
    validator().validate(policy)


def rule(**when):
    return {"version": 1, "rules": [{"id": "r", "effect": "forbid", "when": when}]}


@pytest.mark.parametrize("policy", [
    rule(depth={"leq": 1}),
    rule(agnet=["a"]),
    rule(agent=[]),
    rule(agent="researcher"),
    rule(action=["tools:*"]),
    rule(method=["get"]),
    rule(time={"after": "25:00"}),
    rule(arguments=[{"pointer": "/a", "equals": 1, "prefix": "x"}]),
    rule(ancestors={"any": ["a"], "all": ["b"]}),
    {"version": 1, "rules": [{"id": "no when", "effect": "forbid"}]},
    {"version": 2},
], ids=["unknown-comparator", "unknown-condition", "empty-list", "wrong-type", "bad-kind", "lower-case-method",
        "bad-time", "two-operators", "two-set-modes", "no-when", "version"])
def test_mistakes_are_refused(policy):
    with pytest.raises(jsonschema.ValidationError):
        validator().validate(policy)

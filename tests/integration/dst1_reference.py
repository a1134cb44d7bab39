"""An independent reference implementation of dst1 (docs/protocol.md §2), written from the contract with
Python's standard library only, to cross-check the gateway's C++ tokens in both directions."""
import base64
import hashlib
import hmac
import json


def b64u(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64u(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def mac(key, msg):
    return hmac.new(key, msg, hashlib.sha256).digest()


def k0(secret):
    return mac(b"dst1-key-generator", secret)


def verify(token, keys):
    """Returns the list of block dicts if the MAC chain and endorsements check out, else raises."""
    parts = token.split(".")
    assert parts[0] == "dst1" and len(parts) >= 3, "syntax"
    blocks = []
    for part in parts[1:-1]:
        data, _, endorsement = part.partition("~")
        blocks.append((unb64u(data), unb64u(endorsement) if endorsement else None))
    root = json.loads(blocks[0][0])
    key0 = k0(keys[root["kid"]])
    tag = mac(key0, blocks[0][0])
    decoded = [root]
    for raw, endorsement in blocks[1:]:
        block = json.loads(raw)
        if block["t"] == "d":
            expected = mac(key0, tag + raw)[:16]
            assert endorsement is not None and hmac.compare_digest(expected, endorsement), "endorsement"
            assert block["par"] == [b for b in decoded if b["t"] == "d"][-1]["sid"], "par"
        tag = mac(tag, raw)
        decoded.append(block)
    assert hmac.compare_digest(tag, unb64u(parts[-1])), "tag"
    return decoded


def mint_root(secret, block_json):
    raw = block_json.encode()
    return "dst1.%s.%s" % (b64u(raw), b64u(mac(k0(secret), raw)))


def append_child(token, secret, child):
    """Opens a child scope under `token` the way a gateway holding the key would."""
    head, _, tag_text = token.rpartition(".")
    tag = unb64u(tag_text)
    raw = json.dumps(child, separators=(",", ":")).encode()
    endorsement = mac(k0(secret), tag + raw)[:16]
    return "%s.%s~%s.%s" % (head, b64u(raw), b64u(endorsement), b64u(mac(tag, raw)))


def attenuate(token, caveat):
    """Appends a restriction ("c" block) using nothing but the token itself, as any holder may."""
    head, _, tag_text = token.rpartition(".")
    raw = json.dumps(caveat, separators=(",", ":")).encode()
    return "%s.%s.%s" % (head, b64u(raw), b64u(mac(unb64u(tag_text), raw)))

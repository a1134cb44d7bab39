"""Concurrency limits per route (docs/resilience.md, "Concurrency limits") with the real binary and
real upstream processes: a route lets at most max_inflight requests reach its upstream at once, a
few more wait in its queue, the rest are refused at once with 503 overloaded and Retry-After (the
upstream's own counters show it never saw them, and the breaker does not count them); a wait ends
with 503 overloaded when pending_timeout passes; a slow tool saturating its limit leaves another
route's latency as it was; a reload that keeps the route keeps its count of requests in flight."""
import http.client
import json
import statistics
import subprocess
import sys
import threading
import time

from audit_helpers import records, verify
from harness import Upstream, config, request, route
from test_metrics import samples, scrape, total, value

TOKEN = "test-admin-token"


def limits(gw):
    status, _, body = request("127.0.0.1", gw.admin_port, "GET", "/v1/breakers")
    assert status == 200
    return {entry["route"]: entry for entry in json.loads(body)["limits"]}


def wait_until(predicate, what, timeout=5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.01)
    raise AssertionError("timed out waiting for " + what)


def concurrently(gw, paths):
    """Sends each path at once on its own connection; returns [(status, headers, body)] in order."""
    results = [None] * len(paths)

    def one(i, path):
        results[i] = request("127.0.0.1", gw.port, "GET", path, timeout=20)

    threads = [threading.Thread(target=one, args=(i, p)) for i, p in enumerate(paths)]
    for t in threads:
        t.start()
    return threads, results


def reload(gw, yaml_text):
    gw.write_config(yaml_text)
    status, _, body = request("127.0.0.1", gw.admin_port, "POST", "/v1/reload",
                              headers={"Authorization": "Bearer " + TOKEN})
    assert status == 200, body


def test_over_the_limit_one_waits_and_the_next_is_refused_without_reaching_the_upstream(start_gateway, tmp_path):
    slow = Upstream("slow")
    try:
        routes = route("slow", "/slow", slow.url, strip_prefix="true") + \
            "    concurrency: { max_inflight: 2, max_pending: 1, pending_timeout: 5s }\n" + \
            "    breaker: { consecutive_failures: 1 }\n"  # an overloaded refusal must not trip it
        gw = start_gateway(config(routes, extra="audit:\n  dir: %s\n" % (tmp_path / "audit")))
        before = slow.stats()["requests"]
        started = time.monotonic()
        threads, results = concurrently(gw, ["/slow/delay?ms=1000"] * 4)
        # Two in flight, one waiting: the fourth was refused at once, whichever it was.
        wait_until(lambda: limits(gw)["slow"]["inflight"] == 2 and limits(gw)["slow"]["pending"] == 1,
                   "two requests in flight and one waiting")
        entry = limits(gw)["slow"]
        assert (entry["max_inflight"], entry["max_pending"], entry["pending_timeout_ms"]) == (2, 1, 5000)
        assert value(samples(scrape(gw)[1]), "scopegate_upstream_inflight", route="slow") == 2
        wait_until(lambda: any(r is not None for r in results), "the refusal")
        assert sum(r is not None for r in results) == 1 and time.monotonic() - started < 0.9
        for t in threads:
            t.join()
        statuses = sorted(r[0] for r in results)
        assert statuses == [200, 200, 200, 503]
        status, head, body = next(r for r in results if r[0] == 503)
        error = json.loads(body)["error"]
        assert error["code"] == "overloaded" and head["retry-after"] == "1"
        assert "route slow is overloaded" in error["message"] and "queue of 1" in error["message"]
        # The waiter went after the first two: about two delays in all.
        assert 1.9 < time.monotonic() - started < 4
        # The upstream's own counters: three requests (and this one), never more than two at once.
        stats = slow.stats()
        assert stats["requests"] - before - 1 == 3
        assert stats["peak_active"] == 2
        # Nothing is left in flight; the breaker saw three successes and no failure.
        wait_until(lambda: limits(gw)["slow"]["inflight"] == 0, "the slots to come back")
        assert limits(gw)["slow"]["pending"] == 0
        breaker = json.loads(request("127.0.0.1", gw.admin_port, "GET", "/v1/breakers")[2])["breakers"][0]
        assert breaker["state"] == "closed" and breaker["consecutive_failures"] == 0
        s = samples(scrape(gw)[1])
        assert value(s, "scopegate_upstream_inflight", route="slow") == 0
        assert total(s, "scopegate_requests_total", route="slow", decision="deny", code="overloaded") == 1
        gw.stop()
        refusals = [r for r in records(tmp_path / "audit") if r.get("reason") == "overloaded"]
        assert len(refusals) == 1
        assert (refusals[0]["decision"], refusals[0]["status"], refusals[0]["route"]) == ("deny", 503, "slow")
        assert verify(str(tmp_path / "audit"))[0] == 0
    finally:
        slow.stop()


def test_a_wait_longer_than_pending_timeout_ends_in_overloaded(start_gateway):
    slow = Upstream("slow")
    try:
        routes = route("slow", "/slow", slow.url, strip_prefix="true") + \
            "    concurrency: { max_inflight: 1, max_pending: 4, pending_timeout: 300ms }\n"
        gw = start_gateway(config(routes))
        threads, results = concurrently(gw, ["/slow/delay?ms=1500"])
        wait_until(lambda: limits(gw)["slow"]["inflight"] == 1, "the first request in flight")
        started = time.monotonic()
        status, head, body = request("127.0.0.1", gw.port, "GET", "/slow/delay?ms=10")
        waited = time.monotonic() - started
        error = json.loads(body)["error"]
        assert status == 503 and error["code"] == "overloaded" and head["retry-after"] == "1"
        assert "within 300 ms" in error["message"]
        assert 0.28 < waited < 1.2
        assert limits(gw)["slow"]["pending"] == 0  # it left the queue
        threads[0].join()
        assert results[0][0] == 200
        assert slow.stats()["requests"] == 2  # the first one and this /stats: the refused one never arrived
        # The slot came back: the next request goes straight through.
        assert request("127.0.0.1", gw.port, "GET", "/slow/delay?ms=10")[0] == 200
    finally:
        slow.stop()


def test_a_streamed_response_holds_its_slot_until_the_stream_ends(start_gateway):
    slow = Upstream("slow")
    try:
        routes = route("events", "/events", slow.url, strip_prefix="true") + \
            "    concurrency: { max_inflight: 1 }\n"
        gw = start_gateway(config(routes))
        conn = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=10)
        try:
            conn.request("GET", "/events/sse?n=8&interval_ms=100")  # under a second of events
            stream = conn.getresponse()
            assert stream.status == 200
            # Its head has arrived, its body is still coming: the only slot is still taken.
            status, _, body = request("127.0.0.1", gw.port, "GET", "/events/echo")
            assert status == 503 and json.loads(body)["error"]["code"] == "overloaded"
            assert limits(gw)["events"]["inflight"] == 1
            assert stream.read().count(b"data:") == 8
        finally:
            conn.close()
        wait_until(lambda: limits(gw)["events"]["inflight"] == 0, "the slot to come back")
        assert request("127.0.0.1", gw.port, "GET", "/events/echo")[0] == 200
    finally:
        slow.stop()


# The load for the latency test runs in processes of its own, so that its client threads compete
# with the measuring thread for the CPU as any other clients would, but not for its interpreter
# lock. Each thread calls the slow route in a loop; after a refusal it waits a little, as a client
# honouring Retry-After would (it is not told to wait a whole second only to keep the route busy).
LOAD = r"""
import http.client, json, sys, threading, time
port, path, threads, seconds = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
counts = {"served": 0, "overloaded": 0, "other": 0}
lock = threading.Lock()
def run():
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
        try:
            conn.request("GET", path)
            r = conn.getresponse()
            body = r.read()
            kind = "served" if r.status == 200 else "overloaded" if b'"overloaded"' in body else "other"
        except Exception:
            kind = "other"
        finally:
            conn.close()
        with lock:
            counts[kind] += 1
        if kind != "served":
            time.sleep(0.05)
ts = [threading.Thread(target=run) for _ in range(threads)]
for t in ts: t.start()
for t in ts: t.join()
print(json.dumps(counts), flush=True)
"""


def p99_latency(port, path, n=200):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        for _ in range(20):  # warm: the connection, the pool to the upstream, the caches
            conn.request("GET", path)
            conn.getresponse().read()
        seconds = []
        for _ in range(n):
            t0 = time.perf_counter()
            conn.request("GET", path)
            r = conn.getresponse()
            r.read()
            seconds.append(time.perf_counter() - t0)
            assert r.status == 200
        return statistics.quantiles(seconds, n=100)[98]
    finally:
        conn.close()


def test_a_slow_tool_saturating_its_limit_leaves_another_routes_latency_unchanged(start_gateway):
    slow, fast = Upstream("slow"), Upstream("fast")
    try:
        routes = (route("slow", "/slow", slow.url, strip_prefix="true") +
                  "    concurrency: { max_inflight: 4, max_pending: 4, pending_timeout: 200ms }\n" +
                  route("fast", "/fast", fast.url, strip_prefix="true"))
        gw = start_gateway(config(routes))
        idle = p99_latency(gw.port, "/fast/echo")
        load = [subprocess.Popen([sys.executable, "-c", LOAD, str(gw.port), "/slow/delay?ms=500", "12", "4"],
                                 stdout=subprocess.PIPE, text=True) for _ in range(2)]
        try:
            # 24 clients for 4 slots and 4 places in the queue: the slow route is saturated.
            wait_until(lambda: limits(gw)["slow"]["inflight"] == 4, "the slow route saturated")
            loaded = p99_latency(gw.port, "/fast/echo")
            saturated = limits(gw)["slow"]
        finally:
            counts = [json.loads(p.communicate(timeout=30)[0]) for p in load]
        served = sum(c["served"] for c in counts)
        overloaded = sum(c["overloaded"] for c in counts)
        assert served > 0 and overloaded > 0 and sum(c["other"] for c in counts) == 0, counts
        assert saturated["inflight"] == 4 and saturated["pending"] <= 4
        assert slow.stats()["peak_active"] <= 4
        # Within 2x of the idle p99. A 2-core machine running the gateway, two upstreams and 24
        # Python clients besides the measuring one adds scheduling noise of a few milliseconds that
        # says nothing of the gateway, so the bound has a floor: max(2 x idle, idle + 5 ms).
        bound = max(2 * idle, idle + 0.005)
        print("fast route p99: %.2f ms idle, %.2f ms loaded (bound %.2f ms); slow route: %d served, %d overloaded"
              % (idle * 1e3, loaded * 1e3, bound * 1e3, served, overloaded))
        assert loaded <= bound, "fast route p99 %.2f ms idle, %.2f ms while the slow route is saturated " \
                                "(%d served, %d overloaded)" % (idle * 1e3, loaded * 1e3, served, overloaded)
    finally:
        slow.stop()
        fast.stop()


def test_a_reload_that_keeps_the_route_keeps_its_count_of_requests_in_flight(start_gateway):
    slow, other = Upstream("slow"), Upstream("other")
    try:
        limited = route("slow", "/slow", slow.url, strip_prefix="true") + \
            "    concurrency: { max_inflight: 2, max_pending: 0 }\n"
        gw = start_gateway(config(limited))
        threads, results = concurrently(gw, ["/slow/delay?ms=1500"] * 2)
        wait_until(lambda: limits(gw)["slow"]["inflight"] == 2, "two requests in flight")
        # A reload that keeps the route (and adds another): the two in flight still count.
        reload(gw, config(limited + route("second", "/second", other.url, strip_prefix="true")))
        assert limits(gw)["slow"]["inflight"] == 2
        status, _, body = request("127.0.0.1", gw.port, "GET", "/slow/delay?ms=10")
        assert status == 503 and json.loads(body)["error"]["code"] == "overloaded"
        for t in threads:
            t.join()
        assert [r[0] for r in results] == [200, 200]
        # Each gave its slot back once, to the limiter both snapshots share: none leaked, none doubled.
        wait_until(lambda: limits(gw)["slow"]["inflight"] == 0, "the slots to come back")
        assert value(samples(scrape(gw)[1]), "scopegate_upstream_inflight", route="slow") == 0
        threads, results = concurrently(gw, ["/slow/delay?ms=800"] * 2)
        wait_until(lambda: limits(gw)["slow"]["inflight"] == 2, "two again")
        assert request("127.0.0.1", gw.port, "GET", "/slow/delay?ms=10")[0] == 503
        for t in threads:
            t.join()
        assert [r[0] for r in results] == [200, 200]
        wait_until(lambda: limits(gw)["slow"]["inflight"] == 0, "the slots to come back")
        assert slow.stats()["peak_active"] == 2
    finally:
        slow.stop()
        other.stop()


def test_a_reload_that_raises_the_limit_lets_the_waiting_request_in_at_once(start_gateway):
    slow = Upstream("slow")
    try:
        one = route("slow", "/slow", slow.url, strip_prefix="true") + \
            "    concurrency: { max_inflight: 1, max_pending: 1, pending_timeout: 10s }\n"
        gw = start_gateway(config(one))
        first, first_result = concurrently(gw, ["/slow/delay?ms=3000"])
        wait_until(lambda: limits(gw)["slow"]["inflight"] == 1, "the first request in flight")
        second, second_result = concurrently(gw, ["/slow/delay?ms=10"])
        wait_until(lambda: limits(gw)["slow"]["pending"] == 1, "the second one waiting")
        started = time.monotonic()
        reload(gw, config(one.replace("max_inflight: 1", "max_inflight: 2")))
        second[0].join()
        assert second_result[0][0] == 200 and time.monotonic() - started < 1.5  # not after the first
        assert limits(gw)["slow"]["max_inflight"] == 2
        first[0].join()
        assert first_result[0][0] == 200
        wait_until(lambda: limits(gw)["slow"]["inflight"] == 0, "the slots to come back")
        # A route without `concurrency:` is listed too, unlimited, and still counted.
        reload(gw, config(route("slow", "/slow", slow.url, strip_prefix="true")))
        entry = limits(gw)["slow"]
        assert (entry["max_inflight"], entry["max_pending"], entry["pending_timeout_ms"]) == (None, 0, None)
    finally:
        slow.stop()

"""The HTTP decision-log sink: OPA's upload format, retries with backoff, bounded and never blocking."""

import gzip
import itertools
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

pytest.importorskip("httpx", reason="the HTTP sink uses httpx (the observability extra)")

from guardrails import Checkpoint, Decision, Verdict
from guardrails.errors import ConfigError
from guardrails.observability.decision_log import DecisionLog
from guardrails.observability.sinks import HttpSink

from .conftest import pay


class Collector(ThreadingHTTPServer):
    """A decision-log service on 127.0.0.1 that answers ``statuses`` in turn, then 200."""

    daemon_threads = True

    def __init__(self, statuses=(), delay=0.0):
        super().__init__(("127.0.0.1", 0), Handler)
        self.statuses = list(statuses)
        self.delay = delay
        self.requests: list[dict] = []
        self.events: list[dict] = []
        self.lock = threading.Lock()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server_address[1]}/logs"


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        server = self.server
        body = self.rfile.read(int(self.headers["Content-Length"]))
        time.sleep(server.delay)
        with server.lock:
            status = server.statuses.pop(0) if server.statuses else 200
            server.requests.append(
                {"status": status, "headers": dict(self.headers), "body": body, "at": time.monotonic()}
            )
            if status == 200:
                server.events.extend(json.loads(gzip.decompress(body)))
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        return None


@pytest.fixture
def collector():
    server = Collector()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def decision(n: int = 0) -> Decision:
    return Decision(verdict=Verdict.ALLOW, checkpoint=Checkpoint.SCREEN_INPUT, stage="none", session_id=f"s{n}")


def fast_sink(url, **kwargs) -> HttpSink:
    return HttpSink(url, interval=0.02, min_backoff=0.01, max_backoff=0.05, timeout=2.0, **kwargs)


def test_events_are_posted_as_a_gzipped_json_array_like_opas_uploads(collector):
    log = DecisionLog([fast_sink(collector.url)], pii_scan=False)
    for n in range(5):
        log.on_decision(decision(n), {})
    assert log.flush(10)
    log.close()
    assert [e["session"] for e in collector.events] == [f"s{n}" for n in range(5)]
    headers = {k.lower(): v for k, v in collector.requests[0]["headers"].items()}
    assert headers["content-encoding"] == "gzip" and headers["content-type"] == "application/json"
    assert isinstance(json.loads(gzip.decompress(collector.requests[0]["body"])), list)


def test_failed_uploads_are_retried_until_every_event_arrives_once(collector):
    collector.statuses = [503, 500, 429]
    sink = fast_sink(collector.url)
    log = DecisionLog([sink], pii_scan=False)
    for n in range(20):
        log.on_decision(decision(n), {})
    assert log.flush(10)
    log.close()
    assert [r["status"] for r in collector.requests[:3]] == [503, 500, 429]
    assert sorted(e["session"] for e in collector.events) == sorted(f"s{n}" for n in range(20))  # once each
    assert sink.failed_uploads == 3 and sink.sent == 20 and log.dropped == 0


def test_a_chunk_the_service_refuses_is_dropped_and_counted_not_retried_forever(collector):
    collector.statuses = [400]
    sink = fast_sink(collector.url)
    log = DecisionLog([sink], pii_scan=False)
    log.on_decision(decision(1), {})
    assert log.flush(10)
    log.on_decision(decision(2), {})
    assert log.flush(10)
    log.close()
    assert [e["session"] for e in collector.events] == ["s2"]
    assert sink.dropped == 1 and log.dropped == 1


def test_backoff_grows_while_the_service_keeps_failing(collector):
    collector.statuses = [503] * 100
    sink = HttpSink(collector.url, interval=0.01, min_backoff=0.02, max_backoff=0.16)
    sink.write([b'{"n":1}'])
    time.sleep(0.8)
    sink.close(0.1)
    times = [r["at"] for r in collector.requests]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    # Waits of 0.02, 0.04, 0.08, then 0.16 s (each with jitter in [50%, 100%]): about 5-12
    # attempts in 0.8 s, where retrying at the 0.01 s upload interval would make 80.
    assert 4 <= len(times) <= 14, len(times)
    assert max(gaps) > 2 * min(gaps)
    assert sink.dropped == 1  # still buffered at close: counted, not silently lost


def test_a_full_buffer_drops_new_events_and_counts_them(collector):
    collector.statuses = [503] * 1000
    sink = HttpSink(collector.url, buffer_events=3, interval=0.01, min_backoff=0.05, max_backoff=0.05)
    sink.write([b"{}"] * 5)
    assert sink.pending == 3 and sink.dropped == 2
    sink.write([b"{}"])
    assert sink.dropped == 3
    sink.close(0.1)
    assert sink.dropped == 6


def test_an_unreachable_endpoint_never_slows_or_changes_a_decision(make_guard):
    # Port 9 (discard) on loopback: nothing listens, every upload fails.
    sink = HttpSink("http://127.0.0.1:9/logs", buffer_events=50, interval=0.01, min_backoff=0.01, max_backoff=0.02)
    log = DecisionLog([sink], pii_scan=False, max_pending=100)
    plain = make_guard(db="plain.db")
    logged = make_guard(db="logged.db", observers=[log])
    started = time.perf_counter()
    for n in range(200):
        assert logged.authorize(pay(f"t{n}")).codes == plain.authorize(pay(f"t{n}")).codes
    elapsed = time.perf_counter() - started
    assert elapsed < 20 and logged.observer_failures == 0
    log.close(0.2)
    assert sink.sent == 0 and log.dropped == 200  # buffer (50) + queue overflow + closing: all counted
    assert log.stats()["by_sink"]["http"] == sink.dropped


def test_a_slow_endpoint_holds_no_caller(collector):
    collector.delay = 0.5
    log = DecisionLog([fast_sink(collector.url)], pii_scan=False)
    started = time.perf_counter()
    for n in range(100):
        log.on_decision(decision(n), {})
    assert time.perf_counter() - started < 5  # inline delivery would take 100 x 0.5 s
    assert log.flush(10)
    log.close()
    assert len(collector.events) == 100


def test_a_url_that_is_not_http_is_a_config_error():
    with pytest.raises(ConfigError, match="http"):
        HttpSink("file:///etc/passwd")

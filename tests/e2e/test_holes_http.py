"""test_holes_http - the HTTP API under hostile clients: connection
exhaustion (idle connections, per-host and global limits, the idle timeout),
request framing (Content-Length with Transfer-Encoding, whitespace before the
colon), a body built to blow up the JSON tree, and the refusals that already
held (invalid UTF-8, deep nesting, a huge Content-Length, path traversal,
oversized headers). Raw sockets wherever the framing matters."""

import json
import os
import re
import resource
import select
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import spatetest  # noqa: E402
from spatetest import Env, http_inject, wait_for  # noqa: E402

D1 = "d1.%s" % spatetest.TLD
GOOD = {"envelope_sender": "a@example.org", "recipients": ["r@%s" % D1],
        "content": "Subject: x\n\nx\n"}


def start(name, *overrides):
    """An Env with nsd (d1), a storing sink and spated; returns (env, spated)."""
    env = Env(name)
    try:
        env.start_dns(env.mx_zone(1))
        env.start_spate_sink(env.sink_addrs(1))
        args = []
        for o in overrides:
            args += ["-o", o]
        spated = env.start_spated(env.write_config(), extra_args=args)
    except BaseException:
        env.close(failed=True)
        raise
    return env, spated


def hostport(env):
    return spatetest.split_addr(env.http_url[len("http://"):])


def raw(env, data, timeout=5.0, source=None):
    """Send data on a fresh connection; read until the server closes or
    timeout seconds pass. Returns (bytes received, closed by the server)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        if source:
            s.bind((source, 0))
        s.connect(hostport(env))
        s.sendall(data)
        got, deadline = b"", time.monotonic() + timeout
        while time.monotonic() < deadline:
            r, _, _ = select.select([s], [], [], max(0.0, deadline - time.monotonic()))
            if not r:
                break
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                return got, True
            if not chunk:
                return got, True
            got += chunk
        return got, False
    finally:
        s.close()


def statuses(data):
    """The status codes of every HTTP response in a byte stream."""
    return [int(m) for m in re.findall(rb"(?m)^HTTP/1\.[01] (\d{3}) ", data)]


def received(env):
    return spatetest.metrics(env.http_url)["spate_messages_received_total"]


def inject_request(obj, extra=b""):
    body = json.dumps(obj).encode()
    return (b"POST /api/v1/inject HTTP/1.1\r\nHost: spate\r\nContent-Type: application/json\r\n"
            + extra + b"Content-Length: %d\r\n\r\n" % len(body) + body)


def inject_and_deliver(env):
    """A normal inject is still served; wait until it is delivered, so the
    daemon is not stopped with the message in flight."""
    status, ans = http_inject(env.http_url, GOOD)
    assert status == 200, (status, ans)
    mid = ans["ids"][0]
    wait_for(lambda: env.log_grep(r" %s Completed$" % re.escape(mid)), 20,
             what="%s Completed" % mid)


def vm_hwm(pid):
    """Peak resident set size of a process in bytes (VmHWM)."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM for %d" % pid)


def raise_nofile(n):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < n:
        if hard != resource.RLIM_INFINITY and hard < n:
            raise spatetest.Skip("RLIMIT_NOFILE hard limit %d < %d" % (hard, n))
        resource.setrlimit(resource.RLIMIT_NOFILE, (n, hard))


# ---- 1. connection exhaustion


def test_thousand_idle_http_connections_then_normal_client():
    """1,000 idle connections from one address must not keep a client from
    another address waiting: it is answered within 1 s, and the per-host
    limit (100 by default) closes the idle ones beyond it."""
    raise_nofile(4096)  # inherited by spated
    env, spated = start("holes_idle")
    with env:
        host, port = hostport(env)
        idle = []
        try:
            t0 = time.monotonic()
            for _ in range(1000):
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                s.setblocking(False)
                s.bind(("127.0.0.1", 0))
                s.connect_ex((host, port))
                idle.append(s)
                if time.monotonic() - t0 > 20:
                    break
            assert len(idle) == 1000, len(idle)
            # every handshake completes (SYNs beyond the backlog are retried)
            pending, deadline = set(idle), time.monotonic() + 15
            while pending and time.monotonic() < deadline:
                _, w, _ = select.select([], list(pending), [], 0.2)
                pending.difference_update(w)
            assert not pending, "%d connections not established" % len(pending)
            time.sleep(0.5)  # let the server take them
            t1 = time.monotonic()
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.settimeout(1.0)
            try:
                s.bind(("127.0.0.77", 0))
                s.connect((host, port))
                s.sendall(b"GET /api/v1/stats HTTP/1.1\r\nHost: spate\r\nConnection: close\r\n\r\n")
                line = s.makefile("rb").readline()
            except OSError as e:  # a timeout, or closed / reset unanswered
                line = repr(e).encode()
            finally:
                s.close()
            took = time.monotonic() - t1
            print("normal client answered after %.3f s: %r" % (took, line[:40]))
            assert re.match(rb"HTTP/1\.[01] 200 ", line), "no answer within 1 s (%r)" % line
            assert took < 1.0, took
            # the per-host limit: all but 100 of the idle ones are closed
            deadline, open_ = time.monotonic() + 3, set(idle)
            while open_ and time.monotonic() < deadline and len(open_) > 100:
                r, _, _ = select.select(list(open_)[:1000], [], [], 0.2)
                for x in r:
                    try:
                        if x.recv(1) == b"":
                            open_.discard(x)
                    except OSError:
                        open_.discard(x)
            print("idle connections still open: %d" % len(open_))
            assert len(open_) <= 100, len(open_)
        finally:
            for s in idle:
                s.close()
        spated.check_alive()


def test_idle_connection_closed_after_http_connection_timeout():
    """A connection with no complete request is closed after
    http_connection_timeout, a half-sent request too."""
    env, spated = start("holes_idle_to", "http_connection_timeout=2s")
    with env:
        t0 = time.monotonic()
        got, closed = raw(env, b"", timeout=6)
        took = time.monotonic() - t0
        assert closed and got == b"", (got, closed, took)
        assert 1.0 <= took < 5.0, took
        t0 = time.monotonic()
        got, closed = raw(env, b"POST /api/v1/inject HTTP/1.1\r\nHost: x\r\n", timeout=6)
        assert closed and time.monotonic() - t0 < 5.0, (got, closed)
        spated.check_alive()


# ---- 2. framing


def test_cl_and_te_closes_connection():
    """RFC 9112 6.1: a request with both Content-Length and Transfer-Encoding
    is refused and the connection closed; the request behind it never runs."""
    env, spated = start("holes_clte")
    with env:
        smuggled = inject_request(GOOD)
        first = (b"POST /api/v1/inject HTTP/1.1\r\nHost: spate\r\nContent-Type: application/json\r\n"
                 b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
        got, closed = raw(env, first + smuggled, timeout=4)
        assert statuses(got) == [400], got[:300]
        assert closed, "connection left open after the ambiguous request: %r" % got[:300]
        time.sleep(0.5)
        assert received(env) == 0, "the smuggled request ran"
        # the same with TE first and a body that would frame a second request
        body = b"0\r\n\r\n" + smuggled
        first = (b"POST /api/v1/inject HTTP/1.1\r\nHost: spate\r\nTransfer-Encoding: chunked\r\n"
                 b"Content-Length: %d\r\n\r\n" % len(body))
        got, closed = raw(env, first + body, timeout=4)
        assert statuses(got) == [400] and closed, (got[:300], closed)
        time.sleep(0.5)
        assert received(env) == 0, "the smuggled request ran"
        # two Content-Length fields are as ambiguous
        body = json.dumps(GOOD).encode()
        got, closed = raw(env, b"POST /api/v1/inject HTTP/1.1\r\nHost: spate\r\n"
                               b"Content-Length: %d\r\nContent-Length: 0\r\n\r\n" % len(body) +
                          body + smuggled, timeout=4)
        assert statuses(got) == [400] and closed, (got[:300], closed)
        time.sleep(0.5)
        assert received(env) == 0, "the smuggled request ran"
        inject_and_deliver(env)
        spated.check_alive()


def test_http11_without_host_refused():
    """RFC 9112 3.2: an HTTP/1.1 request with no Host, or two, is a 400."""
    env, spated = start("holes_host")
    with env:
        for hdrs in (b"", b"Host: a\r\nHost: b\r\n"):
            got, closed = raw(env, b"GET /metrics HTTP/1.1\r\n" + hdrs + b"\r\n", timeout=4)
            assert statuses(got) == [400] and closed, (hdrs, got[:300], closed)
            assert b'"error"' in got, got[:300]
        got, closed = raw(env, b"GET /metrics HTTP/1.0\r\n\r\n", timeout=4)
        assert statuses(got) == [200], got[:300]
        spated.check_alive()


def test_te_with_space_before_colon_refused():
    """RFC 9112 5.1: whitespace between a field name and the colon is a 400
    (and a closed connection), never a header framed by Content-Length."""
    env, spated = start("holes_tesp")
    with env:
        body = json.dumps(GOOD).encode()
        req = (b"POST /api/v1/inject HTTP/1.1\r\nHost: spate\r\nContent-Type: application/json\r\n"
               b"Transfer-Encoding : chunked\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
        got, closed = raw(env, req, timeout=4)
        assert statuses(got) == [400], got[:300]
        assert closed, got[:300]
        time.sleep(0.5)
        assert received(env) == 0
        # the same on its own (no Content-Length) and on another header
        got, closed = raw(env, b"POST /api/v1/inject HTTP/1.1\r\nHost: spate\r\n"
                               b"Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n", timeout=4)
        assert statuses(got) == [400] and closed, (got[:300], closed)
        got, closed = raw(env, b"GET /metrics HTTP/1.1\r\nHost : spate\r\n\r\n", timeout=4)
        assert statuses(got) == [400] and closed, (got[:300], closed)
        spated.check_alive()


# ---- 3. memory


def test_26m_element_body_rss():
    """A 52 MB body holding an array of 26 M elements is refused with a 4xx
    JSON error before a JSON tree is built: the daemon's peak RSS stays
    under 300 MB."""
    env, spated = start("holes_rss")
    with env:
        n = 26 * 1000 * 1000
        body = b'{"envelope_sender": "a@example.org", "content": "x", "recipients": [' + \
            b"0," * (n - 1) + b"0]}"
        before = vm_hwm(spated.pid)
        t0 = time.monotonic()
        status, ans = http_inject(env.http_url, body, timeout=120)
        took = time.monotonic() - t0
        peak = vm_hwm(spated.pid)
        del body
        print("body refused with %d after %.1f s; VmHWM %.0f MB before, %.0f MB after" % (
            status, took, before / 1e6, peak / 1e6))
        assert 400 <= status < 500, (status, ans)
        assert isinstance(ans, dict) and ans.get("error"), ans
        assert ans.get("field") == "recipients", ans
        assert peak < 300e6, "peak RSS %.0f MB" % (peak / 1e6)
        spated.check_alive()


# ---- 4. what held


def test_invalid_utf8_json_refused():
    env, spated = start("holes_utf8")
    with env:
        body = json.dumps(GOOD).encode().replace(b"Subject: x", b"Subject: \xff\xfe")
        status, ans = http_inject(env.http_url, body)
        assert status == 400, (status, ans)
        assert isinstance(ans, dict) and "UTF-8" in ans.get("error", ""), ans
        assert received(env) == 0
        spated.check_alive()


def test_deep_nesting_refused():
    env, spated = start("holes_deep")
    with env:
        for body in (b"[" * 100000 + b"]" * 100000, b'{"a":' * 100000 + b"1" + b"}" * 100000):
            status, ans = http_inject(env.http_url, body)
            assert status == 400, (status, ans)
            assert isinstance(ans, dict) and ans.get("error"), ans
        spated.check_alive()
        inject_and_deliver(env)


def test_gigabyte_content_length_413():
    """413 from the length alone, answered without the body being sent."""
    env, spated = start("holes_1g")
    with env:
        got, closed = raw(env, b"POST /api/v1/inject HTTP/1.1\r\nHost: spate\r\n"
                               b"Content-Type: application/json\r\n"
                               b"Content-Length: 1073741824\r\n\r\n", timeout=3)
        assert statuses(got) == [413], got[:300]
        assert b'"error"' in got, got[:300]
        spated.check_alive()


def test_path_traversal_404():
    env, spated = start("holes_path")
    with env:
        for path in (b"/api/v1/../../etc/passwd", b"/api/v1/%2e%2e/%2e%2e/etc/passwd",
                     b"/%2e%2e/%2e%2e/etc/passwd", b"/api/v1/..%2f..%2fetc%2fpasswd",
                     b"/metrics/../api/v1/stats/../../../etc/passwd"):
            got, closed = raw(env, b"GET " + path + b" HTTP/1.1\r\nHost: spate\r\n"
                                                    b"Connection: close\r\n\r\n", timeout=3)
            assert statuses(got) == [404], (path, got[:300])
            assert b"root:" not in got, path
        spated.check_alive()


def test_oversized_headers_431():
    env, spated = start("holes_hdr")
    with env:
        got, closed = raw(env, b"GET /metrics HTTP/1.1\r\nHost: spate\r\nX-Big: " +
                          b"a" * 100000 + b"\r\n\r\n", timeout=5)
        assert statuses(got) == [431], got[:300]
        assert closed, got[:300]
        spated.check_alive()


spatetest.main(globals())

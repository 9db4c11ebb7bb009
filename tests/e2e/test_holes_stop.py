"""test_holes_stop - SIGTERM while messages are on the wire.

A receiver that answers the final dot late (spate-sink --dot-delay) has the
message stored before spated hears the reply. spated must wait for that reply
on SIGTERM (shutdown_grace, default 30s) and commit the outcome, so that the
restart does not send the message again: 0 duplicates. shutdown_grace bounds
the wait: past it spated stops anyway and says so in the main log."""

import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import spatetest  # noqa: E402
from spatetest import Env, wait_for  # noqa: E402

D1 = "d1.%s" % spatetest.TLD
D2 = "d2.%s" % spatetest.TLD


def inject(env, n, tag):
    """n messages, each to one recipient on d1 or d2; their ids."""
    ids = []
    for i in range(n):
        dom = D1 if i % 2 == 0 else D2
        status, ans = spatetest.http_inject(env.http_url, {
            "envelope_sender": "s@example.org", "recipients": ["r%d@%s" % (i, dom)],
            "content": "Subject: %s-%d\nX-Tag: %s-%d\n\nbody %d\n" % (tag, i, tag, i, i)})
        assert status == 200, ans
        ids.append(ans["ids"][0])
    return ids


def tags_received(sink):
    """{X-Tag value: times the sink stored it}."""
    out = {}
    for _, data in sink.messages():
        for line in data.split(b"\r\n"):
            if line.lower().startswith(b"x-tag:"):
                t = line.split(b":", 1)[1].strip().decode()
                out[t] = out.get(t, 0) + 1
    return out


def test_sigterm_with_late_dot_reply_no_duplicates():
    with Env("stop_late_dot") as env:
        env.start_dns(env.mx_zone(2))
        sink = env.start_spate_sink(env.sink_addrs(2), extra_args=["--dot-delay", "3000"])
        conf = env.write_config(retry="* * F,1h,1s")
        spated = env.start_spated(conf)
        n = 6
        inject(env, n, "late")
        # at least one message stored by the receiver, its reply 3 s away
        sink.wait_messages(1, timeout=20)
        on_wire = sink.count()
        t0 = time.monotonic()
        spated.popen.send_signal(signal.SIGTERM)
        assert spated.popen.wait(40) == 0, spated.stderr_text()[-3000:]
        took = time.monotonic() - t0
        delivered = env.log_grep(r" => r\d+@")
        assert len(delivered) >= on_wire, (on_wire, env.main_log()[-20:])
        assert not env.log_grep("shutdown_grace of"), env.main_log()[-5:]
        # the rest goes out after the restart, and nothing twice
        spated = env.start_spated(conf)
        wait_for(lambda: len(tags_received(sink)) == n, 60, what="all %d messages" % n)
        time.sleep(0.5)
        got = tags_received(sink)
        dups = {t: c for t, c in got.items() if c > 1}
        assert not dups, dups
        assert sink.count() == n, sink.count()
        assert spated.stop() == 0
        # it waited for the late replies (about 3 s), not the 30 s grace
        assert 1.0 <= took < 15, took


def test_sigterm_grace_bounds_the_wait():
    with Env("stop_grace") as env:
        env.start_dns(env.mx_zone(1))
        sink = env.start_spate_sink(env.sink_addrs(1), extra_args=["--dot-delay", "20000"])
        conf = env.write_config(extra_main="shutdown_grace = 1s", retry="* * F,1h,1s")
        spated = env.start_spated(conf)
        ids = inject(env, 1, "grace")
        sink.wait_messages(1, timeout=20)
        t0 = time.monotonic()
        spated.popen.send_signal(signal.SIGTERM)
        assert spated.popen.wait(30) == 0, spated.stderr_text()[-3000:]
        took = time.monotonic() - t0
        assert took < 10, took
        assert env.log_grep("shutdown_grace of 1s over with 1 worker"), env.main_log()[-5:]
        # no reply came: nothing was recorded, the recipient is still queued
        assert not env.log_grep(r"%s (=>|==|\*\*) " % ids[0]), env.main_log()[-10:]


def test_sigterm_idle_engine_stops_at_once():
    with Env("stop_idle") as env:
        env.start_dns(env.mx_zone(2))
        sink = env.start_spate_sink(env.sink_addrs(2))
        conf = env.write_config()
        spated = env.start_spated(conf)
        inject(env, 2, "idle")
        sink.wait_messages(2)
        wait_for(lambda: len(env.log_grep(" Completed")) == 2, 10, what="Completed")
        t0 = time.monotonic()
        spated.popen.send_signal(signal.SIGTERM)
        assert spated.popen.wait(20) == 0, spated.stderr_text()[-3000:]
        # cached connections do not hold the stop for the grace period
        assert time.monotonic() - t0 < 5


spatetest.main(globals())

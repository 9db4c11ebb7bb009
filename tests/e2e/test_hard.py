"""test_hard - delivery where it is hard: destinations and resolvers that
misbehave. Each test stands up the misbehaving peer for real on loopback."""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import spatetest  # noqa: E402
from spatetest import Env, wait_for  # noqa: E402

D1 = "d1.%s" % spatetest.TLD


def inject(env, rcpts, tag="t"):
    status, ans = spatetest.http_inject(env.http_url, {
        "envelope_sender": "s@example.org", "recipients": rcpts,
        "content": "Subject: %s\n\n%s\n" % (tag, tag)})
    assert status == 200, ans
    return ans["ids"][0]


def test_dns_timeout_retried_soon_not_at_the_retry_rule():
    """A lookup that did not complete is tried again within about 30 s,
    although the retry rule says 15 minutes."""
    with Env("hard_dns_retry") as env:
        conf = env.write_config(retry="* * F,4h,15m")
        spated = env.start_spated(conf)  # no DNS server answers yet
        mid = inject(env, ["a@%s" % D1])
        wait_for(lambda: env.log_grep(r"%s == a@.*host lookup did not complete" % mid), 30,
                 what="the DNS deferral")
        t0 = time.monotonic()
        env.start_dns(env.mx_zone(1))
        sink = env.start_spate_sink(env.sink_addrs(1))
        sink.wait_messages(1, timeout=60)
        assert time.monotonic() - t0 < 45
        assert spated.stop() == 0


def test_slow_greeting_opens_connections_in_parallel():
    """A receiver that takes 3 s to greet: spate opens connections in
    parallel instead of one after another, and replacements of sessions that
    reached max_messages_per_connection overlap too."""
    with Env("hard_tarpit") as env:
        env.start_dns(env.mx_zone(1))
        sink = env.start_spate_sink(env.sink_addrs(1), extra_args=["--greeting-delay", "3000"])
        conf = env.write_config()
        with open(conf, "a") as f:
            f.write("begin destinations\n*:\n  max_messages_per_connection = 10\n"
                    "  max_connections = 20\n")
        spated = env.start_spated(conf)
        n = 400
        t0 = time.monotonic()
        for k in range(0, n, 100):
            status, ans = spatetest.http_inject(env.http_url, {"messages": [
                {"envelope_sender": "s@example.org", "recipients": ["r%d@%s" % (i, D1)],
                 "content": "Subject: %d\n\nx\n" % i} for i in range(k, k + 100)]})
            assert status == 200, ans
        wait_for(lambda: sink.count() >= n, 90, what="%d messages" % n)
        took = time.monotonic() - t0
        st = sink.stats()
        # one connection at a time would need 40 set-ups of 3 s (120 s)
        assert st["connections_max"] >= 5, st
        assert took < 40, (took, st)
        assert spated.stop() == 0


def test_connection_failure_names_the_host_once():
    """A refused connection is logged with the host once, not twice."""
    with Env("hard_refused") as env:
        env.start_dns(env.mx_zone(1))  # no receiver listens on d1's MX
        spated = env.start_spated(env.write_config(retry="* * F,1h,10m"))
        mid = inject(env, ["a@%s" % D1])
        wait_for(lambda: env.log_grep(r"%s == a@" % mid), 15, what="the deferral")
        rec = env.log_grep(r"%s == a@" % mid)[0]
        assert rec.count("H=mx.%s" % D1) == 1, rec
        assert "Connection refused" in rec, rec
        assert spated.stop() == 0


spatetest.main(globals())

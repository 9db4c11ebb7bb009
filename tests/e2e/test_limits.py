"""Destination limits (the "begin destinations" section): the receiving sink
counts concurrent connections and messages per connection, so the limits are
checked where they matter — on the wire. Also connection reuse, the idle
timeout, and back-off of a destination that refuses connections."""

import math
import re
import time
from datetime import datetime

import spatetest
from spatetest import Env, wait_for

TLD = spatetest.TLD


def _inject(env, rcpts):
    """One message per recipient, over a few SMTP connections."""
    host, port = spatetest.split_addr(env.smtp_addr)
    msgs = [("s@x.%s" % TLD, [r], b"Subject: %d\r\n\r\nbody %d\r\n" % (i, i))
            for i, r in enumerate(rcpts)]
    for k in range(0, len(msgs), 50):
        for code, text in spatetest.smtp_send_many(host, port, msgs[k:k + 50]):
            assert code == 250, (code, text)


def _log_time(line):
    return datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S.%f").timestamp()


def test_max_connections_and_messages_per_connection_hold():
    n, maxconn, per = 40, 2, 3
    with Env("limits-conn") as env:
        env.start_dns(env.mx_zone(2))
        sink = env.start_spate_sink(env.sink_addrs(2), extra_args=["--greeting-delay", "20"])
        conf = env.write_config(extra_main="") + ""
        with open(conf, "a") as f:
            f.write("begin destinations\n"
                    "mx.d1.%s:\n  max_connections = %d\n  max_messages_per_connection = %d\n"
                    "*:\n  max_connections = 4\n" % (TLD, maxconn, per))
        env.start_spated(conf)
        _inject(env, ["u%d@d1.%s" % (i, TLD) for i in range(n)] +
                ["w%d@d2.%s" % (i, TLD) for i in range(n)])
        wait_for(lambda: sink.count() == 2 * n, 60, 0.2, what="%d delivered" % (2 * n))
        wait_for(lambda: sink.stats().get("messages") == 2 * n, 5, what="fresh sink stats")
        st = sink.stats()["by_local"]
        d1, d2 = st[env.sink_addrs(2)[0]], st[env.sink_addrs(2)[1]]
        assert d1["connections_max"] <= maxconn, d1
        assert d1["max_messages_per_connection"] <= per, d1
        # reuse: at most ceil(N / per) + max_connections connections
        assert d1["connections_total"] <= math.ceil(n / per) + maxconn, d1
        assert d1["connections_total"] >= math.ceil(n / per), d1
        # the "*" entry applies to the other destination
        assert d2["connections_max"] <= 4, d2
        assert d2["max_messages_per_connection"] > per, d2  # the default 100 lets it reuse more
        assert d2["connections_total"] <= math.ceil(n / 100) + 4, d2


def test_max_message_rate_holds():
    n, rate = 25, 10
    with Env("limits-rate") as env:
        env.start_dns(env.mx_zone(1))
        sink = env.start_spate_sink(env.sink_addrs(1))
        conf = env.write_config()
        with open(conf, "a") as f:
            f.write("begin destinations\nd1.%s:\n  max_message_rate = %d/s\n" % (TLD, rate))
        env.start_spated(conf)
        _inject(env, ["u%d@d1.%s" % (i, TLD) for i in range(n)])
        wait_for(lambda: sink.count() == n, 30, 0.2, what="%d delivered" % n)
        times = sorted(_log_time(l) for l in env.log_grep(r" => u\d+@d1\."))
        assert len(times) == n
        span = times[-1] - times[0]
        # n messages spaced 1/rate apart take at least (n - 1) / rate seconds
        assert span >= (n - 1) / rate * 0.95, "25 messages in %.2f s at %d/s" % (span, rate)
        for i in range(len(times)):
            in_window = [t for t in times[i:] if t - times[i] < 1.0]
            assert len(in_window) <= rate + 1, "%d messages within 1 s" % len(in_window)


def test_idle_connections_close_after_the_idle_timeout():
    with Env("limits-idle") as env:
        env.start_dns(env.mx_zone(2))
        sink = env.start_spate_sink(env.sink_addrs(2))
        conf = env.write_config()
        with open(conf, "a") as f:
            f.write("begin destinations\n"
                    "mx.d1.%s:\n  connection_idle_timeout = 1s\n"
                    "mx.d2.%s:\n  connection_idle_timeout = 30s\n" % (TLD, TLD))
        env.start_spated(conf)
        _inject(env, ["a@d1.%s" % TLD, "b@d2.%s" % TLD])
        wait_for(lambda: sink.count() == 2, 10, what="2 delivered")
        wait_for(lambda: sink.stats().get("messages") == 2, 5, what="fresh sink stats")
        a1, a2 = env.sink_addrs(2)
        wait_for(lambda: sink.stats()["by_local"][a1]["connections_now"] == 0, 5,
                 what="d1's idle connection closed")
        assert sink.stats()["by_local"][a2]["connections_now"] == 1  # still cached
        m = spatetest.metrics(env.http_url + "/metrics")
        assert m["spate_connections_cached"] == 1
        # the cached connection is reused for the next message to d2
        _inject(env, ["c@d2.%s" % TLD])
        wait_for(lambda: sink.count() == 3, 10, what="3 delivered")
        assert sink.stats()["by_local"][a2]["connections_total"] == 1
        assert spatetest.metrics(env.http_url + "/metrics")["spate_connections_reused_total"] >= 1


def test_refusing_destination_is_backed_off_as_a_whole_and_recovers():
    n = 30
    with Env("limits-backoff") as env:
        env.start_dns(env.mx_zone(1))
        env.start_spated(env.write_config(retry="* * F,1h,1s"))
        _inject(env, ["u%d@d1.%s" % (i, TLD) for i in range(n)])  # nobody listens yet
        wait_for(lambda: len(env.log_grep(r" == u\d+@d1")) >= n, 20, what="all deferred")
        m = spatetest.metrics(env.http_url + "/metrics")
        # one failed connection per back-off round, not one per message
        assert m["spate_connections_failed_total"] <= 5, m["spate_connections_failed_total"]
        backed_off = env.log_grep(r" == u\d+@d1\.\S+ R=dnslookup T=remote_smtp defer: retry "
                                  r"time not reached for any host after a connection failure")
        assert len(backed_off) >= n - 5, len(backed_off)
        time.sleep(2)
        failed_before = spatetest.metrics(env.http_url + "/metrics")[
            "spate_connections_failed_total"]
        assert failed_before <= 10, failed_before  # ~1 per second of outage
        sink = env.start_spate_sink(env.sink_addrs(1))
        wait_for(lambda: sink.count() == n, 30, 0.2, what="all delivered after recovery")
        wait_for(lambda: len(env.log_grep(r" Completed$")) == n, 10, what="%d Completed" % n)
        q = spatetest.http_get(env.http_url + "/api/v1/queue")[1]
        d = [x for x in q["destinations"] if "mx.d1." in x["destination"]][0]
        assert d["backoff_until"] == 0 and d["delivered"] == n, d


spatetest.main(globals())

"""test_hard - delivery where it is hard: destinations and resolvers that
misbehave. Each test stands up the misbehaving peer for real on loopback."""

import os
import socket
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


def test_slow_to_start_sessions_are_kept_idle_longer():
    """A session that took 2 s to get its greeting is kept in the cache
    beyond connection_idle_timeout (1s here), so the next message 3 s later
    reuses it instead of paying the set-up again."""
    with Env("hard_keep") as env:
        env.start_dns(env.mx_zone(1))
        sink = env.start_spate_sink(env.sink_addrs(1), extra_args=["--greeting-delay", "2000"])
        conf = env.write_config()
        with open(conf, "a") as f:
            f.write("begin destinations\n*:\n  connection_idle_timeout = 1s\n")
        spated = env.start_spated(conf)
        inject(env, ["k1@%s" % D1], "k1")
        e1, _ = sink.wait_messages(1, timeout=20)[0]
        time.sleep(3)
        inject(env, ["k2@%s" % D1], "k2")
        e2, _ = sink.wait_messages(2, timeout=20)[-1]
        assert e2["conn_id"] == e1["conn_id"] and e2["msg_in_conn"] == 2, (e1, e2)
        assert spated.stop() == 0


TWO = "twomx.%s" % spatetest.TLD


def blackhole(ip, port):
    """A listener whose accept queue is full: SYNs to it are dropped, as a
    firewall would. Returns the sockets, to keep them open."""
    lis = socket.socket()
    lis.bind((ip, port))
    lis.listen(0)
    filler = socket.socket()
    filler.connect((ip, port))  # takes the one slot of the queue
    return [lis, filler]


def silent(ip, port):
    """A server that accepts connections and never says a word."""
    lis = socket.socket()
    lis.bind((ip, port))
    lis.listen(128)
    return [lis]


def many(env, n, dom, tag):
    for k in range(0, n, 100):
        status, ans = spatetest.http_inject(env.http_url, {"messages": [
            {"envelope_sender": "s@example.org", "recipients": ["%s%d@%s" % (tag, i, dom)],
             "content": "Subject: %d\n\nx\n" % i} for i in range(k, min(n, k + 100))]})
        assert status == 200, ans


def limits(conf, body):
    with open(conf, "a") as f:
        f.write("begin destinations\n*:\n" + body)


def test_dead_first_mx_tried_once_then_skipped():
    """MX 10 refuses connections, MX 20 works: after the first failure MX 10
    is marked down for every worker and later sessions go straight to MX 20,
    instead of each new session paying for MX 10 first."""
    with Env("hard_dead_mx") as env:
        env.start_dns(env.two_mx())
        sink = env.start_spate_sink(["%s:%d" % (env.ip(2, 2), spatetest.SINK_PORT)])
        conf = env.write_config()
        limits(conf, "  max_messages_per_connection = 5\n")
        spated = env.start_spated(conf)
        n = 200
        many(env, n, TWO, "d")
        sink.wait_messages(n, timeout=60)
        wait_for(lambda: sink.stats().get("messages", 0) >= n, 10, what="the sink's stats")
        st = sink.stats()
        assert st["connections_total"] >= n // 10, st  # many sessions were opened
        downs = env.log_grep(r"H=mx1\.%s .* marked down for 30s: connect: Connection refused"
                             % TWO.replace(".", "\\."))
        assert len(downs) == 1, (downs, env.log_grep("marked down"))
        failed = spatetest.metrics(env.http_url + "/metrics")["spate_connections_failed_total"]
        assert failed == 1, failed
        assert spated.stop() == 0


def test_silent_server_greeting_timeout_fails_over():
    """MX 10 accepts the connection and never greets: greeting_timeout (not
    the 5-minute command timeout) ends the wait, it is logged, MX 10 is marked
    down and the mail goes to MX 20."""
    with Env("hard_silent") as env:
        keep = silent(env.ip(2, 1), spatetest.SINK_PORT)
        env.start_dns(env.two_mx())
        sink = env.start_spate_sink(["%s:%d" % (env.ip(2, 2), spatetest.SINK_PORT)])
        conf = env.write_config(transports="remote_smtp:\n  driver = smtp\n  port = %d\n"
                                "  greeting_timeout = 2s\n" % spatetest.SINK_PORT)
        spated = env.start_spated(conf)
        t0 = time.monotonic()
        many(env, 20, TWO, "s")
        sink.wait_messages(20, timeout=30)
        assert time.monotonic() - t0 < 15
        assert env.log_grep(r"H=mx1\..* marked down for 30s: no greeting within 2s "
                            r"\(greeting_timeout\)"), env.log_grep("marked down")
        assert spated.stop() == 0
        for s in keep:
            s.close()


def test_connect_timeout_counted_and_host_skipped():
    """MX 10 drops SYNs: connect_timeout ends the attempt, it counts in
    spate_connections_failed_total, and the host is marked down."""
    with Env("hard_blackhole") as env:
        keep = blackhole(env.ip(2, 1), spatetest.SINK_PORT)
        env.start_dns(env.two_mx())
        sink = env.start_spate_sink(["%s:%d" % (env.ip(2, 2), spatetest.SINK_PORT)])
        conf = env.write_config(transports="remote_smtp:\n  driver = smtp\n  port = %d\n"
                                "  connect_timeout = 2s\n" % spatetest.SINK_PORT)
        limits(conf, "  max_messages_per_connection = 5\n")
        spated = env.start_spated(conf)
        many(env, 50, TWO, "b")
        sink.wait_messages(50, timeout=40)
        assert env.log_grep(r"H=mx1\..* marked down for 30s: connect: connection timed out"), \
            env.log_grep("marked down")
        failed = spatetest.metrics(env.http_url + "/metrics")["spate_connections_failed_total"]
        assert failed == 1, failed
        assert spated.stop() == 0
        for s in keep:
            s.close()


def test_domains_sharing_mx_hosts_share_a_transaction():
    """One message to 30 recipients in 3 domains whose MX is the same host:
    one transaction carries them all (max_rcpt allows 100)."""
    with Env("hard_share") as env:
        recs = ["mx.shared.%s. IN A %s" % (spatetest.TLD, env.sink_ip(1))]
        doms = ["s%d.%s" % (k, spatetest.TLD) for k in range(1, 4)]
        recs += ["%s. IN MX 10 mx.shared.%s." % (d, spatetest.TLD) for d in doms]
        env.start_dns(recs)
        sink = env.start_spate_sink(env.sink_addrs(1))
        spated = env.start_spated(env.write_config())
        rcpts = ["r%d@%s" % (i, doms[i % 3]) for i in range(30)]
        inject(env, rcpts, "shared")
        e, _ = sink.wait_messages(1)[0]
        time.sleep(0.5)
        assert sink.count() == 1, [m[0]["rcpt_to"] for m in sink.messages()]
        assert sorted(e["rcpt_to"]) == sorted(rcpts), e
        assert spated.stop() == 0


spatetest.main(globals())

"""End to end: a wide fan-out. One message to 10,000 recipients over 1,000
domains (10 each), injected over HTTP, each domain with its own MX host name
(so routing sends nsd 3,000 queries: MX, then A and AAAA of the host), the MX
hosts spread over four receivers. Every recipient must be delivered exactly once, with no
deferral: before the resolver capped its queries in flight, answers were
dropped on spated's own UDP socket and whole domains were deferred with
"host lookup did not complete"."""

import collections
import time

import spatetest
from spatetest import Env, wait_for

TLD = spatetest.TLD
DOMAINS = 1000
PER_DOMAIN = 10
SINKS = 4
BOUND_S = 120  # under ASan, from the injection to the last recipient settled


def _zone(env):
    """fK.spate-test MX 10 mx.fK.spate-test, mx.fK A 127.N.1.(K mod 4 + 1)."""
    recs = []
    for k in range(1, DOMAINS + 1):
        recs.append("f%d.%s. IN MX 10 mx.f%d.%s." % (k, TLD, k, TLD))
        recs.append("mx.f%d.%s. IN A %s" % (k, TLD, env.sink_ip(k % SINKS + 1)))
    return recs


def _rcpts():
    return ["u%d@f%d.%s" % (i, k, TLD) for k in range(1, DOMAINS + 1)
            for i in range(PER_DOMAIN)]


def _rcvbuf_errors():
    """The kernel's count of UDP datagrams dropped for a full receive buffer
    (this network namespace, so other tests running at once add to it: for
    the report only)."""
    with open("/proc/net/snmp") as f:
        rows = [l.split() for l in f if l.startswith("Udp:")]
    return int(rows[1][rows[0].index("RcvbufErrors")])


def _settled(env, want):
    """Recipients with an outcome in the log (delivered, deferred or failed)."""
    done = set()
    for line in env.log_grep(r" (=>|==|\*\*) "):
        done.add(line.split()[4])  # date time id marker address ...
    return len(done) >= want


def test_10000_recipients_over_1000_domains_none_deferred():
    rcpts = _rcpts()
    with Env("fanout") as env:
        env.start_dns(_zone(env))
        sink = env.start_spate_sink(env.sink_addrs(SINKS))
        # a deferral is not retried within the test (10m): it shows as a failure
        env.start_spated(env.write_config(retry="* * F,1h,10m"))
        t0, drops0 = time.monotonic(), _rcvbuf_errors()
        status, body = spatetest.http_inject(env.http_url, {
            "envelope_sender": "fan@sender.%s" % TLD, "recipients": rcpts,
            "content": "Subject: fan-out\n\nOne message, many domains.\n"}, timeout=60)
        assert status == 200, (status, body)
        assert body["accepted"] == len(rcpts) and not body["rejected"], body
        wait_for(lambda: _settled(env, len(rcpts)), BOUND_S, 0.5,
                 what="an outcome for all %d recipients" % len(rcpts))
        elapsed = time.monotonic() - t0
        drops = _rcvbuf_errors() - drops0
        deferred = env.log_grep(r" == ")
        print("fan-out: %d recipients settled in %.1fs, %d deferred, "
              "%d UDP receive-buffer drops" % (len(rcpts), elapsed, len(deferred), drops),
              flush=True)
        assert not deferred, "%d deferred, e.g. %s" % (len(deferred), deferred[0])
        assert not env.log_grep(r" \*\* "), env.log_grep(r" \*\* ")[:3]
        wait_for(lambda: env.log_grep(r" Completed$"), 30, what="Completed")
        # every recipient exactly once at the receivers
        seen = collections.Counter()
        for env_json, _ in sink.messages():
            seen.update(env_json["rcpt_to"])
        dup = [r for r, n in seen.items() if n != 1]
        assert not dup, "delivered more than once: %r" % dup[:5]
        missing = [r for r in rcpts if r not in seen]
        assert not missing, "%d never delivered, e.g. %r" % (len(missing), missing[:5])
        assert sum(seen.values()) == len(rcpts)
        m = spatetest.metrics(env.http_url)
        assert m["spate_recipients_delivered_total"] == len(rcpts), m
        assert m.get("spate_recipients_deferred_total", 0) == 0, m


spatetest.main(globals())

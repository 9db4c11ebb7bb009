"""test_metrics - GET /metrics of a running spated carries every family of
SPEC section 2 (received, delivered, deferred, bounced, per-destination
queue depth, connections open/cached/reused, TLS and DANE outcomes, DNS
cache hits, spool commit latency), the delivery duration and queue time
histograms, and per-destination series that match the traffic sent."""

import os
import re

import spatetest
from spatetest import Env, wait_for

TLD = spatetest.TLD

FAMILIES = [
    "spate_messages_received_total", "spate_recipients_delivered_total",
    "spate_recipients_deferred_total", "spate_recipients_failed_total",
    "spate_bounces_sent_total", "spate_connections_open", "spate_connections_cached",
    "spate_connections_reused_total", "spate_tls_sessions_total", "spate_tls_failures_total",
    "spate_dane_verified_total", "spate_dane_failed_total", "spate_dns_cache_hits_total",
    "spate_spool_commit_duration_seconds_count", "spate_delivery_duration_seconds_count",
    "spate_queue_time_seconds_count",
]


def dest_series(m, family):
    return {k: v for k, v in m.items() if k.startswith(family + "{destination=")}


def test_metrics_complete():
    with Env("metrics-complete") as env:
        env.start_dns(env.mx_zone(2))
        env.start_spate_sink(env.sink_addrs(2))
        env.start_spated(env.write_config(retry="* * F,1h,1h"))
        host, port = spatetest.split_addr(env.smtp_addr)
        msgs = [("s@d2.%s" % TLD, ["u%d@d1.%s" % (i, TLD)], b"Subject: m\r\n\r\nb\r\n")
                for i in range(5)]
        msgs.append(("s@d2.%s" % TLD, ["tempfail-x@d2.%s" % TLD], b"Subject: t\r\n\r\nb\r\n"))
        assert all(c == 250 for c, _ in spatetest.smtp_send_many(host, port, msgs))
        wait_for(lambda: spatetest.metrics(env.http_url).get(
            "spate_recipients_delivered_total") == 5, 20, what="5 deliveries")
        wait_for(lambda: spatetest.metrics(env.http_url).get(
            "spate_recipients_deferred_total") == 1, 20, what="1 deferral")
        m = spatetest.metrics(env.http_url)
        missing = [f for f in FAMILIES if f not in m]
        assert not missing, missing
        assert m["spate_messages_received_total"] == 6
        assert m["spate_delivery_duration_seconds_count"] >= 2
        assert m['spate_delivery_duration_seconds_bucket{le="+Inf"}'] == \
            m["spate_delivery_duration_seconds_count"]
        assert m["spate_queue_time_seconds_count"] == 5  # final states only
        delivered = dest_series(m, "spate_destination_delivered_total")
        deferred = dest_series(m, "spate_destination_deferred_total")
        depth = dest_series(m, "spate_destination_queue_depth")
        assert sum(delivered.values()) == 5 and sum(deferred.values()) == 1
        d1 = [k for k, v in delivered.items() if "mx.d1" in k]
        assert len(d1) == 1 and delivered[d1[0]] == 5, delivered
        assert 'spate_destination_delivered_total{destination="other"}' in delivered
        assert all(v >= 0 for v in depth.values()) and depth
        # the Grafana dashboard and the alert rules name only series that exist
        src = os.environ.get("SPATE_SRC", os.path.join(os.path.dirname(__file__), "..", ".."))
        for rel in ("contrib/grafana/spate-dashboard.json", "contrib/prometheus/spate-alerts.yml"):
            with open(os.path.join(src, rel)) as f:
                names = set(re.findall(r"\bspate_[a-z_]+", f.read()))
            unknown = [n for n in names if not any(k == n or k.startswith(n + "{") for k in m)]
            assert names and not unknown, (rel, unknown)


spatetest.main(globals())

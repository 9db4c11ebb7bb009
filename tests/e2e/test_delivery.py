"""End to end: mail injected over SMTP and HTTP is delivered through real DNS
(nsd) to real receivers (spate-sink, Postfix's smtp-sink), exactly once and
byte for byte; deferrals are retried; permanent failures produce one failure
notice; a null MX fails at once."""

import json
import re

import spatetest
from spatetest import Env, canonical, corpus_messages, strip_trace_headers, wait_for

TLD = spatetest.TLD


def _tagged(i, body):
    """A corpus message with a unique first header so it can be found again."""
    return b"X-Spate-Test: t%04d\r\n" % i + canonical(body)


def _tag_of(data):
    m = re.search(rb"X-Spate-Test: (t\d{4})\r\n", data)
    return m.group(1).decode() if m else None


def _rcpts_for(i, domains):
    first = "u%d@d%d.%s" % (i, i % domains + 1, TLD)
    if i % 3:
        return [first]
    return [first, "v%d@d%d.%s" % (i, (i + 3) % domains + 1, TLD)]


def _inject_smtp(env, items):
    """items: [(i, rcpts, data)]; 5 connections, many messages each."""
    host, port = spatetest.split_addr(env.smtp_addr)
    for k in range(0, len(items), 100):
        chunk = items[k:k + 100]
        replies = spatetest.smtp_send_many(
            host, port, [("s%d@sender.%s" % (i, TLD), r, d) for i, r, d in chunk])
        for (i, _, _), (code, text) in zip(chunk, replies):
            assert code == 250, "message %d: SMTP %s %s" % (i, code, text)
            assert re.search(r"id=\S{16}", text), text


def _inject_http(env, items):
    """items: [(i, rcpts, data)]; batches of 50."""
    for k in range(0, len(items), 50):
        batch = items[k:k + 50]
        obj = {"messages": [{"envelope_sender": "s%d@sender.%s" % (i, TLD), "recipients": r,
                             "content": d.decode("ascii")} for i, r, d in batch]}
        status, body = spatetest.http_inject(env.http_url + "/api/v1/inject", obj)
        assert status == 200, "HTTP %s %s" % (status, body)
        assert len(body["ids"]) == len(batch), body
        assert body["accepted"] == sum(len(r) for _, r, _ in batch), body


def test_1000_messages_over_smtp_and_http_arrive_once_and_byte_exact():
    domains = 10
    with Env("delivery-1000") as env:
        env.start_dns(env.mx_zone(domains))
        sink = env.start_spate_sink(env.sink_addrs(domains))
        env.start_spated(env.write_config())
        corpus = [b for _, b in corpus_messages()]
        assert len(corpus) >= 40
        items = [(i, _rcpts_for(i, domains), _tagged(i, corpus[i % len(corpus)]))
                 for i in range(1000)]
        _inject_smtp(env, items[:500])
        _inject_http(env, items[500:])
        want_pairs = sum(len(r) for _, r, _ in items)
        wait_for(lambda: sum(len(e["rcpt_to"]) for e, _ in sink.messages()) >= want_pairs,
                 180, 0.5, what="%d deliveries" % want_pairs)
        seen = {}
        for env_json, data in sink.messages():
            tag = _tag_of(data)
            assert tag is not None, "unknown message at the sink: %r" % data[:200]
            i = int(tag[1:])
            body = strip_trace_headers(data)
            assert body == items[i][2], "message %d differs (%d vs %d bytes)" % (
                i, len(body), len(items[i][2]))
            assert env_json["mail_from"] == "s%d@sender.%s" % (i, TLD)
            for r in env_json["rcpt_to"]:
                seen[(i, r)] = seen.get((i, r), 0) + 1
        dup = {k: v for k, v in seen.items() if v != 1}
        assert not dup, "delivered more than once: %r" % list(dup)[:5]
        missing = [(i, r) for i, rs, _ in items for r in rs if (i, r) not in seen]
        assert not missing, "never delivered: %r" % missing[:5]
        # the main log tells the same story
        wait_for(lambda: len(env.log_grep(r" Completed$")) == 1000, 30, what="1000 Completed")
        assert len(env.log_grep(r" <= s\d+@sender")) == 1000
        assert len(env.log_grep(r" => ")) == want_pairs
        assert not env.log_grep(r" (==|\*\*) ")
        smtp_in = env.log_grep(r" <= \S+ H=\(\S+\) \[127\.[\d.]+\]:\d+ P=esmtp S=\d+ for ")
        http_in = env.log_grep(r" <= \S+ H=\[127\.[\d.]+\]:\d+ P=http S=\d+ for ")
        assert (len(smtp_in), len(http_in)) == (500, 500), (len(smtp_in), len(http_in))
        delivered = env.log_grep(
            r" => \S+ R=dnslookup T=remote_smtp H=mx\.d\d+\.%s \[127\.[\d.]+\]:12526 C=\"250 " %
            TLD)
        assert len(delivered) == want_pairs
        m = spatetest.metrics(env.http_url + "/metrics")
        assert m["spate_messages_received_total"] == 1000
        assert m["spate_recipients_delivered_total"] == want_pairs
        assert m["spate_queue_messages"] == 0
        # several messages per connection: far fewer connections than messages
        wait_for(lambda: sink.stats().get("messages") == sink.count(), 5, what="fresh sink stats")
        st = sink.stats()
        assert st["max_messages_per_connection"] > 1, st
        assert st["connections_total"] <= domains * 20, st  # max_connections default: 20
        for local, per in st["by_local"].items():
            assert per["connections_max"] <= 20, (local, per)
        assert m["spate_connections_reused_total"] > 0


def test_tempfail_is_retried_and_delivered_once():
    with Env("delivery-retry") as env:
        env.start_dns(env.mx_zone(2))
        sink = env.start_spate_sink(env.sink_addrs(2))
        env.start_spated(env.write_config(retry="* * F,1h,1s"))
        code, text = spatetest.smtp_send(
            env.spated_ip, spatetest.SMTP_PORT, "a@d2.%s" % TLD,
            ["tempfail-once-x@d1.%s" % TLD, "ok@d1.%s" % TLD], b"Subject: retry\r\n\r\nhi\r\n")
        assert code == 250, (code, text)
        wait_for(lambda: env.log_grep(r" => tempfail-once-x@"), 20, what="retried delivery")
        deferrals = env.log_grep(r" == tempfail-once-x@d1\.\S+ R=dnslookup T=remote_smtp defer "
                                 r"H=mx\.d1\.\S+ \[[\d.]+\]:12526: SMTP error from remote mail "
                                 r"server after RCPT TO:<tempfail-once-x@d1\.\S+>: 451 ")
        assert len(deferrals) == 1, env.main_log()
        wait_for(lambda: env.log_grep(r" Completed$"), 10, what="Completed")
        got = [e["rcpt_to"] for e, _ in sink.messages()]
        assert sorted(r for rs in got for r in rs) == sorted(
            ["ok@d1.%s" % TLD, "tempfail-once-x@d1.%s" % TLD]), got
        m = spatetest.metrics(env.http_url + "/metrics")
        assert m["spate_recipients_deferred_total"] == 1
        assert m["spate_recipients_delivered_total"] == 2


def test_permanent_failure_sends_one_notice():
    with Env("delivery-notice") as env:
        env.start_dns(env.mx_zone(2))
        sink = env.start_spate_sink(env.sink_addrs(2))
        env.start_spated(env.write_config(extra_main="json_log = true"))
        sender = "alice@d2.%s" % TLD
        code, _ = spatetest.smtp_send(
            env.spated_ip, spatetest.SMTP_PORT, sender,
            ["permfail-1@d1.%s" % TLD, "permfail-2@d1.%s" % TLD, "bob@d1.%s" % TLD],
            b"Subject: original subject\r\nMessage-ID: <orig@x>\r\n\r\nbody\r\n")
        assert code == 250
        wait_for(lambda: len(env.log_grep(r" Completed$")) == 2, 20, what="message and notice")
        notices = [(e, d) for e, d in sink.messages() if e["mail_from"] == ""]
        assert len(notices) == 1, [e for e, _ in sink.messages()]
        e, data = notices[0]
        assert e["rcpt_to"] == [sender]
        text = data.decode("ascii", "replace")
        assert "permfail-1@d1.%s" % TLD in text and "permfail-2@d1.%s" % TLD in text
        assert "550 5.1.1" in text
        assert "bob@d1" not in text.split("------ This is a copy")[0]
        assert "Subject: original subject" in text  # the original is returned
        assert re.search(r"^Auto-Submitted: auto-replied\r?$", text, re.M)
        assert len(env.log_grep(r" \*\* permfail-\d@d1\.\S+ R=dnslookup T=remote_smtp H=mx\.d1"
                                r"\S+ \[[\d.]+\]:12526: SMTP error from remote mail server "
                                r"after RCPT TO:<permfail-\d@d1\.\S+>: 550 ")) == 2
        assert env.log_grep(r" => bob@d1\.")
        # json_log: the same records as JSON lines, with the fields split out
        with open(env.log_path + ".json") as f:
            records = [json.loads(line) for line in f]
        assert len(records) == len(env.main_log())
        fails = [r for r in records if r.get("event") == "**"]
        assert sorted(r["address"] for r in fails) == ["permfail-1@d1.%s" % TLD,
                                                        "permfail-2@d1.%s" % TLD]
        assert all(len(r["id"]) == 16 and r["text"].startswith(r["id"]) for r in fails)
        assert any(r.get("event") == "Completed" for r in records)


def test_null_mx_fails_at_once_and_null_sender_gets_no_notice():
    with Env("delivery-nullmx") as env:
        env.start_dns(env.mx_zone(2) + env.null_mx("nullmx"))
        sink = env.start_spate_sink(env.sink_addrs(2))
        env.start_spated(env.write_config(retry="* * F,1h,30s"))
        code, _ = spatetest.smtp_send(env.spated_ip, spatetest.SMTP_PORT, "a@d2.%s" % TLD,
                                      ["x@nullmx.%s" % TLD], b"Subject: n\r\n\r\nbody\r\n")
        assert code == 250
        # fails without a deferral, long before the first retry (30 s) would come
        wait_for(lambda: env.log_grep(r" \*\* x@nullmx\.\S+ R=dnslookup"), 10, what="** null MX")
        assert "null MX" in env.log_grep(r" \*\* x@nullmx")[0]
        assert not env.log_grep(r" == x@nullmx")
        wait_for(lambda: sink.count() == 1, 10, what="the notice to a@d2")
        assert sink.messages()[0][0]["rcpt_to"] == ["a@d2.%s" % TLD]
        # a message from the null sender that fails produces no notice at all
        status, body = spatetest.http_inject(env.http_url + "/api/v1/inject", {
            "envelope_sender": "", "recipients": ["y@nullmx.%s" % TLD, "permfail@d1.%s" % TLD],
            "content": "Subject: from <>\n\nbody\n"})
        assert status == 200, body
        wait_for(lambda: len(env.log_grep(r" Completed$")) == 3, 10, what="3 Completed")
        assert len(env.log_grep(r" \*\* ")) == 3
        assert sink.count() == 1, [e for e, _ in sink.messages()]


def test_unknown_domain_and_implicit_mx():
    with Env("delivery-nxdomain") as env:
        env.start_dns(env.mx_zone(1) + env.implicit_mx("nomx"))
        sink = env.start_spate_sink(env.sink_addrs(1))
        env.start_spated(env.write_config())
        code, _ = spatetest.smtp_send(env.spated_ip, spatetest.SMTP_PORT, "",
                                      ["a@no-such.%s" % TLD, "b@nomx.%s" % TLD],
                                      b"Subject: x\r\n\r\nbody\r\n")
        assert code == 250
        wait_for(lambda: env.log_grep(r" Completed$"), 15, what="Completed")
        assert env.log_grep(r" \*\* a@no-such\.\S+ R=dnslookup.*Unrouteable address")
        # no MX but an A record: delivered to the domain itself (RFC 5321 5.1)
        assert env.log_grep(r" => b@nomx\.\S+ R=dnslookup T=remote_smtp H=nomx\.%s " % TLD)
        assert sink.count() == 1


def test_postfix_smtp_sink_receives():
    with Env("delivery-smtpsink") as env:
        env.start_dns(env.mx_zone(3))
        sinks = [env.start_smtp_sink(a) for a in env.sink_addrs(3)]
        env.start_spated(env.write_config())
        host, port = spatetest.split_addr(env.smtp_addr)
        msgs = [("s@x.%s" % TLD, ["u%d@d%d.%s" % (i, i % 3 + 1, TLD)],
                 b"Subject: %d\r\n\r\nbody\r\n" % i) for i in range(60)]
        assert all(c == 250 for c, _ in spatetest.smtp_send_many(host, port, msgs))
        wait_for(lambda: sum(s.count() for s in sinks) >= 60, 60, 0.2, what="60 at smtp-sink")
        wait_for(lambda: len(env.log_grep(r" Completed$")) == 60, 20, what="60 Completed")
        assert sum(s.count() for s in sinks) == 60
        assert len(env.log_grep(r" => ")) == 60


spatetest.main(globals())

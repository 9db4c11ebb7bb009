"""test_http_api - the HTTP API of a running spated: POST /api/v1/inject
(single, batch, null sender, every validation error with the field it names,
the size limit), GET /metrics (Prometheus text format, counters after a known
workload), /api/v1/stats, /api/v1/queue, 404/405, and spatectl against it."""

import json
import os
import re
import socket
import subprocess
import sys
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import spatetest  # noqa: E402
from spatetest import Env, canonical, http_get, http_inject, wait_for  # noqa: E402

D1 = "d1.%s" % spatetest.TLD
D2 = "d2.%s" % spatetest.TLD


def start(name, *overrides, domains=2):
    """An Env with nsd (d1..dN), a storing sink and spated; returns (env, sink, spated)."""
    env = Env(name)
    try:
        env.start_dns(env.mx_zone(domains))
        sink = env.start_spate_sink(env.sink_addrs(domains))
        args = []
        for o in overrides:
            args += ["-o", o]
        spated = env.start_spated(env.write_config(), extra_args=args)
    except BaseException:
        env.close(failed=True)
        raise
    return env, sink, spated


def request(url, method="GET", body=None, headers=None, timeout=20):
    """(status, headers, body bytes); HTTP errors do not raise."""
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def corpus_text(name):
    return dict(spatetest.corpus_messages())[name].decode("utf-8")


def strip_ours(data):
    """The message without the one Received: field spate put in front (a
    corpus message may carry Received: fields of its own, which stay)."""
    assert data.startswith(b"Received: from "), data[:80]
    lines = data.split(b"\r\n")
    i = 1
    while i < len(lines) and lines[i][:1] in (b" ", b"\t"):
        i += 1
    assert b"(spate)" in b"".join(lines[:i]), lines[:i]
    return b"\r\n".join(lines[i:])


def msg(sender, rcpts, content):
    return {"envelope_sender": sender, "recipients": rcpts, "content": content}


def inject_ok(url, obj):
    status, ans = http_inject(url, obj)
    assert status == 200, (status, ans)
    return ans


def bad(url, obj, field, status=400):
    """Inject obj, expect status with a JSON error naming field; returns the error text."""
    got, ans = http_inject(url, obj)
    assert got == status, (got, ans, field)
    assert isinstance(ans, dict) and isinstance(ans.get("error"), str) and ans["error"], ans
    assert ans.get("field") == field, "expected field %r, got %r (%s)" % (field, ans.get("field"),
                                                                          ans["error"])
    return ans["error"]


def completed(env, mid, timeout=20):
    wait_for(lambda: env.log_grep(r" %s Completed$" % re.escape(mid)), timeout,
             what="%s Completed" % mid)


# ---- inject


def test_inject_single_byte_exact():
    env, sink, spated = start("http_single")
    with env:
        content = corpus_text("msg_07.txt")
        ans = inject_ok(env.http_url, msg("alice@example.org", ["bob@%s" % D1], content))
        # the "<=" record is written before the 200 is sent
        log_now = env.main_log()
        assert ans["accepted"] == 1 and ans["rejected"] == [] and len(ans["ids"]) == 1, ans
        mid = ans["ids"][0]
        assert re.fullmatch(r"[0-9A-Za-z]+-[0-9A-Za-z]+", mid), mid
        arrivals = [l for l in log_now if " %s <= alice@example.org " % mid in l]
        assert len(arrivals) == 1, "no '<=' record for %s when the 200 arrived" % mid
        assert " P=http " in arrivals[0] and arrivals[0].endswith(" for bob@%s" % D1), arrivals
        e, data = sink.wait_messages(1)[0]
        assert e["mail_from"] == "alice@example.org" and e["rcpt_to"] == ["bob@%s" % D1], e
        assert data.startswith(b"Received: "), data[:100]
        head = data.split(b"\r\n\r\n")[0]
        assert ("id " + mid).encode() in head and b"with HTTP" in head, head[:300]
        assert strip_ours(data) == canonical(content.encode()), "not byte-exact"
        size = int(re.search(r" S=(\d+) ", arrivals[0]).group(1))
        assert size == len(data), (size, len(data))
        completed(env, mid)


def test_inject_batch_of_50():
    env, sink, spated = start("http_batch")
    with env:
        corpus = [(n, m.decode("utf-8")) for n, m in spatetest.corpus_messages()]
        assert len(corpus) == 48
        items = [corpus[i % len(corpus)] for i in range(50)]
        rcpt = ["m%02d@%s" % (i, D1 if i % 2 == 0 else D2) for i in range(50)]
        batch = {"messages": [msg("batch@example.org", [rcpt[i]], items[i][1]) for i in range(50)]}
        ans = inject_ok(env.http_url, batch)
        assert len(ans["ids"]) == 50 and len(set(ans["ids"])) == 50, ans
        assert ans["accepted"] == 50 and ans["rejected"] == [], ans
        msgs = sink.wait_messages(50, timeout=40)
        assert len(msgs) == 50
        by_rcpt = {}
        for e, data in msgs:
            assert len(e["rcpt_to"]) == 1, e
            by_rcpt[e["rcpt_to"][0]] = data
        assert sorted(by_rcpt) == sorted(rcpt)
        for i in range(50):
            data = by_rcpt[rcpt[i]]
            assert ("id " + ans["ids"][i]).encode() in data.split(b"\r\n\r\n")[0], i
            assert strip_ours(data) == canonical(items[i][1].encode()), items[i][0]
        for mid in ans["ids"]:
            completed(env, mid)
        assert spatetest.metrics(env.http_url)["spate_messages_received_http_total"] == 50


def test_inject_null_sender_and_multiple_recipients():
    env, sink, spated = start("http_null")
    with env:
        rcpts = ["n1@%s" % D1, "n2@%s" % D1, "n3@%s" % D2]
        ans = inject_ok(env.http_url, msg("", rcpts, "Subject: null\n\nfrom nobody\n"))
        assert ans["accepted"] == 3 and len(ans["ids"]) == 1, ans
        msgs = sink.wait_messages(2)
        assert sorted(r for e, _ in msgs for r in e["rcpt_to"]) == rcpts
        for e, data in msgs:
            assert e["mail_from"] == "", e
            assert strip_ours(data) == b"Subject: null\r\n\r\nfrom nobody\r\n"
        assert env.log_grep(r" %s <= <> .* P=http " % ans["ids"][0])


def test_inject_validation_errors():
    env, sink, spated = start("http_bad")
    with env:
        url = env.http_url
        good = msg("a@example.org", ["r@%s" % D1], "Subject: x\n\nx\n")

        def without(key):
            return {k: v for k, v in good.items() if k != key}

        def with_(**kw):
            m = dict(good)
            m.update(kw)
            return m
        # not JSON / not an object
        err = bad(url, b'{"envelope_sender": "a@example.org", ', None)
        assert "JSON" in err, err
        bad(url, b"", None)
        bad(url, b"[1, 2]", None)
        bad(url, b'"just a string"', None)
        # missing fields
        for key in ("envelope_sender", "recipients", "content"):
            err = bad(url, without(key), key)
            assert "missing" in err, err
        # wrong types and empty values
        bad(url, with_(envelope_sender=7), "envelope_sender")
        bad(url, with_(envelope_sender=None), "envelope_sender")
        bad(url, with_(recipients="r@%s" % D1), "recipients")
        bad(url, with_(recipients=[]), "recipients")
        bad(url, with_(recipients=["r@%s" % D1, 5]), "recipients[1]")
        bad(url, with_(content=12), "content")
        bad(url, with_(content=["a"]), "content")
        bad(url, with_(content=""), "content")
        # a misspelt field is an error, not ignored
        bad(url, dict(good, recipient=["x@%s" % D1]), "recipient")
        # invalid addresses
        bad(url, with_(envelope_sender="no at sign"), "envelope_sender")
        bad(url, with_(recipients=["r@%s" % D1, "two words@%s" % D1]), "recipients[1]")
        bad(url, with_(recipients=["r@"]), "recipients[0]")
        bad(url, with_(recipients=[""]), "recipients[0]")
        # batches name the message
        bad(url, {"messages": "no"}, "messages")
        bad(url, {"messages": []}, "messages")
        bad(url, {"messages": [good, good, without("content")]}, "messages[2].content")
        bad(url, {"messages": [good, 5]}, "messages[1]")
        bad(url, {"messages": [good], "extra": 1}, "extra")

        # one bad message in a batch: nothing of the batch is spooled
        rejected_before = spatetest.metrics(url)["spate_injections_rejected_total"]
        batch = {"messages": [msg("a@example.org", ["first@%s" % D1], "Subject: 1\n\n1\n"),
                              msg("a@example.org", ["not an address"], "Subject: 2\n\n2\n"),
                              msg("a@example.org", ["third@%s" % D2], "Subject: 3\n\n3\n")]}
        bad(url, batch, "messages[1].recipients[0]")
        m = spatetest.metrics(url)
        assert m["spate_messages_received_total"] == 0, m
        assert m["spate_injections_rejected_total"] == rejected_before + 1
        # a good message afterwards is the only one delivered
        ans = inject_ok(url, msg("a@example.org", ["after@%s" % D1], "Subject: after\n\nok\n"))
        completed(env, ans["ids"][0])
        assert [e["rcpt_to"] for e, _ in sink.messages()] == [["after@%s" % D1]]
        assert spatetest.metrics(url)["spate_messages_received_total"] == 1
        assert len(env.log_grep(r" <= ")) == 1, env.log_grep(r" <= ")
        spated.check_alive()


def test_inject_size_limit():
    env, sink, spated = start("http_size", "message_size_limit=10K", domains=1)
    with env:
        head = "Subject: size\r\n\r\n"
        over = head + "o" * (10241 - len(head))
        err = bad(env.http_url, msg("a@example.org", ["big@%s" % D1], over), "content", 413)
        assert "10240" in err, err
        bad(env.http_url, {"messages": [msg("a@example.org", ["ok@%s" % D1], "Subject: ok\n\nok\n"),
                                        msg("a@example.org", ["big@%s" % D1], over)]},
            "messages[1].content", 413)
        # a body far beyond any valid request is refused from its length alone
        # (the answer comes before any of the body is sent)
        host, port = spatetest.split_addr(env.http_url[len("http://"):])
        with socket.create_connection((host, port), timeout=10) as s:
            s.sendall(b"POST /api/v1/inject HTTP/1.1\r\nHost: spate\r\n"
                      b"Content-Type: application/json\r\nContent-Length: 3000000\r\n\r\n")
            status_line = s.makefile("rb").readline()
        assert re.match(rb"HTTP/1\.[01] 413 ", status_line), status_line
        # exactly the limit is accepted
        fits = head + "f" * (10240 - len(head))
        ans = inject_ok(env.http_url, msg("a@example.org", ["fits@%s" % D1], fits))
        completed(env, ans["ids"][0])
        msgs = sink.messages()
        assert [e["rcpt_to"] for e, _ in msgs] == [["fits@%s" % D1]], msgs
        assert strip_ours(msgs[0][1]) == canonical(fits.encode())
        spated.check_alive()


# ---- metrics, stats, queue

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)'
                    r'(\{[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*"'
                    r'(?:,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*")*\})?'
                    r' (-?[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?|NaN|[-+]Inf)( -?[0-9]+)?$')


def check_prometheus_text(text):
    """Validate the text exposition format 0.0.4; returns {family: type}."""
    helps, types, seen_families = {}, {}, []
    assert text.endswith("\n"), "exposition does not end with a newline"
    for line in text.split("\n")[:-1]:
        if line.startswith("#"):
            m = re.match(r"^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$", line)
            assert m, "malformed comment line: %r" % line
            kind, name, rest = m.groups()
            table = helps if kind == "HELP" else types
            assert name not in table, "second %s for %s" % (kind, name)
            if kind == "TYPE":
                assert rest in ("counter", "gauge", "histogram", "summary", "untyped"), line
                assert name not in seen_families, "TYPE of %s after its samples" % name
            table[name] = rest
            continue
        m = SAMPLE.match(line)
        assert m, "malformed sample line: %r" % line
        name = m.group(1)
        family = name
        for suffix in ("_bucket", "_sum", "_count"):
            base = name[:-len(suffix)]
            if name.endswith(suffix) and types.get(base) in ("histogram", "summary"):
                family = base
        assert family in types, "no TYPE line before %r" % line
        assert family in helps, "no HELP line for %r" % line
        if types[family] == "counter":
            assert float(m.group(3)) >= 0, line
        seen_families.append(family)
    for fam in types:
        assert fam in seen_families, "TYPE %s without samples" % fam
    return types


def metrics_text(url):
    status, hdrs, body = request(url + "/metrics")
    assert status == 200, status
    assert hdrs.get("Content-Type", "").startswith("text/plain"), hdrs.get("Content-Type")
    assert "version=0.0.4" in hdrs.get("Content-Type", ""), hdrs.get("Content-Type")
    return body.decode("utf-8")


COUNTERS = ["messages_received_total", "recipients_delivered_total",
            "recipients_deferred_total", "recipients_failed_total", "connections_opened_total",
            "connections_reused_total"]


def snapshot(url):
    m = spatetest.metrics(url)
    return {k: m["spate_" + k] for k in COUNTERS + ["queue_messages"]}


def test_metrics_stats_queue_after_known_workload():
    env, sink, spated = start("http_metrics")
    with env:
        url = env.http_url
        types = check_prometheus_text(metrics_text(url))
        for c in COUNTERS:
            assert types.get("spate_" + c) == "counter", (c, types.get("spate_" + c))
        assert types.get("spate_queue_messages") == "gauge"
        assert snapshot(url) == {k: 0 for k in COUNTERS + ["queue_messages"]}, snapshot(url)

        # A: one delivered and one permanently failed recipient (null sender:
        # no failure notice), on a fresh connection to d1
        a = inject_ok(url, msg("", ["a1@%s" % D1, "permfail-a@%s" % D1], "Subject: A\n\nA\n"))
        completed(env, a["ids"][0])
        want = dict.fromkeys(COUNTERS, 0)
        want.update(messages_received_total=1, recipients_delivered_total=1,
                    recipients_failed_total=1, connections_opened_total=1, queue_messages=0)
        assert snapshot(url) == want, snapshot(url)

        # B over SMTP to d1: the cached connection is used again
        host, port = spatetest.split_addr(env.smtp_addr)
        code, text = spatetest.smtp_send(host, port, "", ["b1@%s" % D1], b"Subject: B\n\nB\n")
        assert code == 250, text
        completed(env, re.search(r"id=(\S+)", text).group(1))
        want.update(messages_received_total=2, recipients_delivered_total=2,
                    connections_reused_total=1)
        assert snapshot(url) == want, snapshot(url)

        # C to d2: deferred once (451), queued meanwhile, delivered on retry
        c = inject_ok(url, msg("", ["tempfail-once-c@%s" % D2], "Subject: C\n\nC\n"))
        wait_for(lambda: spatetest.metrics(url)["spate_recipients_deferred_total"] == 1, 15,
                 what="the deferral of C")
        queued = spatetest.metrics(url)["spate_queue_messages"]
        completed(env, c["ids"][0])
        assert queued == 1, queued
        # C's connection stayed cached (idle timeout 5 s) and carried the retry
        want.update(messages_received_total=3, recipients_delivered_total=3,
                    recipients_deferred_total=1, connections_opened_total=2,
                    connections_reused_total=2, queue_messages=0)
        assert snapshot(url) == want, snapshot(url)
        # the receivers saw as many connections as spate says it opened
        wait_for(lambda: sink.stats().get("connections_total") == 2, 5,
                 what="sink stats: 2 connections (%r)" % sink.stats())
        assert sink.count() == 3
        check_prometheus_text(metrics_text(url))

        # /api/v1/stats carries the same figures
        status, stats = http_get(url + "/api/v1/stats")
        assert status == 200 and isinstance(stats, dict), (status, stats)
        prom = spatetest.metrics(url)
        for name, value in stats["counters"].items():
            assert prom.get("spate_" + name) == value, (name, value, prom.get("spate_" + name))
        for name, value in stats["gauges"].items():
            assert prom.get("spate_" + name) == value, (name, value, prom.get("spate_" + name))
        for c in COUNTERS:
            assert c in stats["counters"], c
        assert stats["counters"]["messages_received_total"] == 3
        assert stats["gauges"]["queue_messages"] == 0
        assert stats["spool_commit"]["count"] == prom["spate_spool_commit_duration_seconds_count"]

        # /api/v1/queue lists both destinations with their outcomes
        status, q = http_get(url + "/api/v1/queue")
        assert status == 200 and isinstance(q, dict), (status, q)
        assert q["messages"] == 0, q
        dests = {d["destination"]: d for d in q["destinations"]}
        d1 = [d for k, d in dests.items() if "mx.%s" % D1 in k]
        d2 = [d for k, d in dests.items() if "mx.%s" % D2 in k]
        assert len(d1) == 1 and len(d2) == 1, q
        assert (d1[0]["delivered"], d1[0]["failed"], d1[0]["deferred"]) == (2, 1, 0), d1
        assert (d2[0]["delivered"], d2[0]["failed"], d2[0]["deferred"]) == (1, 0, 1), d2
        assert d1[0]["ready"] == 0 and d2[0]["ready"] == 0, q

        # spatectl, human-readable and --json
        ctl = os.path.join(spatetest.BUILD, "spatectl")
        p = subprocess.run([ctl, "--url", url, "stats"], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=20)
        out = p.stdout.decode()
        assert p.returncode == 0, p.stderr
        assert re.search(r"(?m)^\s+messages_received_total\s+3$", out), out
        assert re.search(r"(?m)^\s+recipients_delivered_total\s+3$", out), out
        p = subprocess.run([ctl, "--url", url, "--json", "stats"], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=20)
        assert p.returncode == 0, p.stderr
        js = json.loads(p.stdout.decode())
        for c in COUNTERS:
            assert js["counters"][c] == stats["counters"][c], (c, js["counters"][c])
        p = subprocess.run([ctl, "--url", url, "summary"], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=20)
        assert p.returncode == 0 and "mx.%s" % D1 in p.stdout.decode(), (p.stdout, p.stderr)
        # a daemon that is not there is an error
        dead = "http://%s:9" % env.ip(0, 1)
        p = subprocess.run([ctl, "--url", dead, "stats"], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=20)
        assert p.returncode == 1, (p.returncode, p.stderr)


def test_unknown_path_and_wrong_method():
    env, sink, spated = start("http_routes", domains=1)
    with env:
        url = env.http_url
        # "/" is the dashboard (test_dashboard.py)
        for path in ("/nope", "/api/v1/nope", "/metrics/x", "/api/v1/inject/x"):
            status, hdrs, body = request(url + path)
            assert status == 404, (path, status)
            assert "error" in json.loads(body.decode()), body
        for method, path in (("POST", "/metrics"), ("PUT", "/api/v1/stats"),
                             ("DELETE", "/api/v1/queue"), ("GET", "/api/v1/inject"),
                             ("PUT", "/api/v1/inject")):
            status, hdrs, body = request(url + path, method, b"{}" if method != "GET" else None)
            assert status == 405, (method, path, status)
            assert "error" in json.loads(body.decode()), body
        status, hdrs, body = request(url + "/metrics", "POST", b"x")
        assert "GET" in (hdrs.get("Allow") or ""), hdrs
        # the service is unharmed
        ans = inject_ok(url, msg("a@example.org", ["r@%s" % D1], "Subject: x\n\nx\n"))
        completed(env, ans["ids"][0])


def test_405_allow_header_names_post():
    """RFC 9110 15.5.6: a 405 lists the methods the resource supports; for
    /api/v1/inject that is POST."""
    env, sink, spated = start("http_allow", domains=1)
    with env:
        status, hdrs, body = request(env.http_url + "/api/v1/inject")
        assert status == 405, status
        allow = [m.strip() for m in (hdrs.get("Allow") or "").split(",")]
        assert "POST" in allow and "GET" not in allow, "405 for GET /api/v1/inject: Allow: %s" % (
            hdrs.get("Allow"))


spatetest.main(globals())

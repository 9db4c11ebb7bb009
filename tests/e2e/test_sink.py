"""test_sink - the test fixtures themselves, without spated: nsd serving the
test zone, spate-sink (storage, per-recipient replies, pipelining, CHUNKING,
statistics, load) and Postfix's smtp-sink, plus the harness helpers."""

import http.server
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import spatetest  # noqa: E402
from spatetest import Env, canonical, smtp_send, smtp_send_many, wait_for  # noqa: E402


def raw_session(addr, payload, timeout=10):
    """Send payload after the greeting and return everything the server sends
    until it closes (the payload should end with QUIT)."""
    host, port = spatetest.split_addr(addr)
    with socket.create_connection((host, port), timeout=timeout) as s:
        f = s.makefile("rb")
        greeting = f.readline()
        assert greeting.startswith(b"220 "), greeting
        s.sendall(payload)
        return f.read().decode("utf-8", "replace")


def corpus(name):
    return dict(spatetest.corpus_messages())[name]


def test_dns_zone_records():
    with Env("sink_dns") as env:
        env.start_dns(env.mx_zone(3) + env.null_mx() + env.implicit_mx() + env.two_mx()
                      + env.cname_chain(length=2))
        rcode, ans = env.drill("d1.spate-test", "MX")
        assert rcode == "NOERROR" and ans == [("d1.spate-test.", "MX", "10 mx.d1.spate-test.")], ans
        assert env.drill("mx.d3.spate-test", "A")[1] == [("mx.d3.spate-test.", "A", env.sink_ip(3))]
        assert env.drill("nullmx.spate-test", "MX")[1] == [("nullmx.spate-test.", "MX", "0 .")]
        rcode, ans = env.drill("nomx.spate-test", "MX")
        assert rcode == "NOERROR" and ans == [], ans
        assert env.drill("nomx.spate-test", "A")[1][0][2] == env.sink_ip(1)
        prefs = sorted(r[2] for r in env.drill("twomx.spate-test", "MX")[1])
        assert prefs == ["10 mx1.twomx.spate-test.", "20 mx2.twomx.spate-test."], prefs
        ans = env.drill("cname.spate-test", "MX")[1]
        types = [r[1] for r in ans]
        assert types == ["CNAME", "CNAME", "MX"], ans
        assert ans[-1] == ("c2.cname.spate-test.", "MX", "10 mx.cname.spate-test."), ans
        assert env.drill("absent.spate-test", "MX")[0] == "NXDOMAIN"
        assert env.drill("d9.spate-test", "MX")[0] == "NXDOMAIN"


def test_store_corpus_byte_exact():
    with Env("sink_corpus") as env:
        sink = env.start_spate_sink(env.sink_addrs(1))
        host, port = spatetest.split_addr(sink.addrs[0])
        msgs = list(spatetest.corpus_messages())
        assert len(msgs) == 48 and "msg_26.txt" in dict(msgs) and "msg_47.txt" in dict(msgs)
        assert b"\r\n" in corpus("msg_26.txt") and not corpus("msg_47.txt").endswith(b"\n")
        batch = [("from@a.example", ["to%d@d1.spate-test" % i], data)
                 for i, (_, data) in enumerate(msgs)]
        replies = smtp_send_many(host, port, batch)
        assert all(code == 250 for code, _ in replies), replies
        stored = sink.wait_messages(len(msgs))
        assert len(stored) == len(msgs)
        for i, ((name, data), (envelope, body)) in enumerate(zip(msgs, stored)):
            assert body == canonical(data), name
            assert envelope["mail_from"] == "from@a.example"
            assert envelope["rcpt_to"] == ["to%d@d1.spate-test" % i]
            assert envelope["msg_in_conn"] == i + 1
            assert envelope["local"] == sink.addrs[0]
            assert envelope["peer"].startswith("127.")
        assert len({e["conn_id"] for e, _ in stored}) == 1
        wait_for(lambda: sink.stats().get("messages") == len(msgs), 5, what="stats")
        assert sink.stats()["max_messages_per_connection"] == len(msgs)


def test_dot_unstuffing_raw():
    with Env("sink_dots") as env:
        sink = env.start_spate_sink(env.ip(1, 1))
        body = (b"Subject: dots\r\n\r\n"
                b"..leading dot\r\n"
                b"...two dots\r\n"
                b"..\r\n"
                b"middle . dot\r\n"
                b".\r\n")
        out = raw_session(sink.addrs[0], b"EHLO c\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n"
                          + body + b"QUIT\r\n")
        assert "354 " in out and "250 2.0.0 Ok: queued" in out, out
        assert out.endswith("221 2.0.0 Bye\r\n"), out
        (envelope, got), = sink.wait_messages(1)
        want = b"Subject: dots\r\n\r\n.leading dot\r\n..two dots\r\n.\r\nmiddle . dot\r\n"
        assert got == want, got
        # smtplib stuffs dots itself: a corpus-like body with leading dots survives
        smtp_send(*spatetest.split_addr(sink.addrs[0]), "a@b", ["c@d"], b"X: y\n\n.x\n..y\n.\n")
        assert sink.wait_messages(2)[1][1] == b"X: y\r\n\r\n.x\r\n..y\r\n.\r\n"


def test_recipient_behaviours():
    with Env("sink_rcpt") as env:
        sink = env.start_spate_sink(env.ip(1, 1))
        host, port = spatetest.split_addr(sink.addrs[0])
        msg = b"Subject: r\r\n\r\nhi\r\n"
        assert smtp_send(host, port, "a@b", ["tempfail-once-1@d"], msg)[0] == 451
        assert smtp_send(host, port, "a@b", ["tempfail-once-1@d"], msg)[0] == 250
        assert smtp_send(host, port, "a@b", ["TempFail-Once-2@d"], msg)[0] == 451
        assert smtp_send(host, port, "a@b", ["tempfail-x@d"], msg)[0] == 451
        assert smtp_send(host, port, "a@b", ["tempfail-x@d"], msg)[0] == 451
        code, text = smtp_send(host, port, "a@b", ["permfail@d"], msg)
        assert (code, text) == (550, "5.1.1 no such user"), (code, text)
        code, text = smtp_send(host, port, "a@b", ["ok@d", "datafail@d"], msg)
        assert (code, text) == (554, "5.6.0 rejected content"), (code, text)
        # a mixed transaction keeps only the accepted recipients
        assert smtp_send(host, port, "a@b", ["ok2@d", "permfail@d", "tempfail@d"], msg)[0] == 250
        t0 = time.monotonic()
        assert smtp_send(host, port, "a@b", ["slow@d"], msg)[0] == 250
        assert time.monotonic() - t0 >= 0.2
        stored = sink.wait_messages(3)
        assert [e["rcpt_to"] for e, _ in stored] == [["tempfail-once-1@d"], ["ok2@d"], ["slow@d"]]
        want = {"messages": 3, "recipients": 3, "rcpt_tempfail": 5, "rcpt_permfail": 2,
                "messages_rejected": 1}
        wait_for(lambda: all(sink.stats().get(k) == v for k, v in want.items()), 5,
                 what="stats %s, got %s" % (want, sink.stats()))


def test_slow_does_not_block_others():
    with Env("sink_slow") as env:
        sink = env.start_spate_sink(env.ip(1, 1), extra_args=["-t", "1"])
        host, port = spatetest.split_addr(sink.addrs[0])
        msg = b"Subject: s\r\n\r\nx\r\n"
        results = []
        slow = threading.Thread(target=lambda: results.append(
            smtp_send(host, port, "a@b", ["slow-1@d"], msg)))
        slow.start()
        time.sleep(0.05)
        t0 = time.monotonic()
        for _ in range(5):
            assert smtp_send(host, port, "a@b", ["fast@d"], msg)[0] == 250
        fast = time.monotonic() - t0
        slow.join(10)
        assert results and results[0][0] == 250
        assert fast < 0.5, fast


def test_protocol_errors():
    with Env("sink_proto") as env:
        sink = env.start_spate_sink(env.ip(1, 1))
        out = raw_session(sink.addrs[0],
                          b"MAIL FROM:<a@b>\r\n"            # before EHLO
                          b"EHLO c\r\n"
                          b"RCPT TO:<c@d>\r\n"              # before MAIL
                          b"DATA\r\n"                       # before MAIL
                          b"MAIL FROM:a@b\r\n"              # no brackets
                          b"MAIL FROM:<a@b>\r\n"
                          b"MAIL FROM:<a@b>\r\n"            # nested
                          b"RCPT TO:<>\r\n"
                          b"DATA\r\n"                       # no valid recipients
                          b"WHAT\r\n"
                          + b"NOOP " + b"x" * 3000 + b"\r\n"  # over 1000 octets
                          b"NOOP\r\nRSET\r\nQUIT\r\n")
        codes = [l[:9] for l in out.split("\r\n") if l and not l.startswith("250-")]
        assert codes == ["503 5.5.1", "250 DSN", "503 5.5.1", "503 5.5.1",
                         "501 5.5.4", "250 2.1.0", "503 5.5.1", "501 5.5.4", "554 5.5.1",
                         "500 5.5.2", "500 5.5.2", "250 2.0.0", "250 2.0.0", "221 2.0.0"], codes
        out = raw_session(sink.addrs[0], b"EHLO c\r\nMAIL FROM:<a@b> SIZE=200000000\r\nQUIT\r\n")
        assert "552 5.3.4" in out, out
        assert sink.count() == 0


def test_ehlo_and_pipelining_swaks():
    with Env("sink_swaks") as env:
        sink = env.start_spate_sink(env.ip(1, 1))
        rc, out = spatetest.swaks(["--server", sink.addrs[0], "--from", "a@b", "--to",
                                   "x@d,permfail@d,y@d", "--pipeline", "--body", "pipelined"])
        for ext in ("PIPELINING", "SIZE 104857600", "8BITMIME", "ENHANCEDSTATUSCODES",
                    "SMTPUTF8", "DSN"):
            assert "250-" + ext in out or "250 " + ext in out, (ext, out)
        assert "CHUNKING" not in out
        assert "550 5.1.1" in out and "Ok: queued" in out, out
        (envelope, body), = sink.wait_messages(1)
        assert envelope["rcpt_to"] == ["x@d", "y@d"]
        assert b"pipelined" in body
        other = env.start_spate_sink(env.ip(1, 2), extra_args=["--no-pipelining"])
        rc, out = spatetest.swaks(["--server", other.addrs[0], "--from", "a@b", "--to", "x@d",
                                   "--quit-after", "EHLO"])
        assert "PIPELINING" not in out and "250 DSN" in out, out


def test_chunking_bdat():
    with Env("sink_bdat") as env:
        sink = env.start_spate_sink(env.ip(1, 1), extra_args=["--chunking"])
        chunk1, chunk2 = b"Subject: b\r\n\r\n.no unstuffing\r\n", b"end\r\n"
        out = raw_session(sink.addrs[0],
                          b"EHLO c\r\nBDAT 3\r\nabc"           # no transaction: 503, consumed
                          b"MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\n"
                          + b"BDAT %d\r\n" % len(chunk1) + chunk1
                          + b"BDAT %d LAST\r\n" % len(chunk2) + chunk2 + b"QUIT\r\n")
        assert "250 CHUNKING" in out or "250-CHUNKING" in out, out
        assert "503 5.5.1" in out and "octets received" in out and "Ok: queued" in out, out
        (envelope, body), = sink.wait_messages(1)
        assert body == chunk1 + chunk2
        # a chunk that arrives in pieces, with a pipelined command right after it
        host, port = spatetest.split_addr(sink.addrs[0])
        with socket.create_connection((host, port), timeout=10) as s:
            f = s.makefile("rb")
            f.readline()
            s.sendall(b"EHLO c\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nBDAT 10 LAST\r\n12345")
            time.sleep(0.1)
            s.sendall(b"67890NOOP\r\n")
            time.sleep(0.1)
            s.sendall(b"QUIT\r\n")
            out = f.read().decode()
        assert out.endswith("Ok: queued as 00000002\r\n250 2.0.0 Ok\r\n221 2.0.0 Bye\r\n"), out
        assert sink.wait_messages(2)[1][1] == b"1234567890"


def test_stats_connections_and_messages():
    with Env("sink_stats") as env:
        addrs = [env.ip(1, 1) + ":12526", env.ip(1, 2) + ":12526"]
        sink = env.start_spate_sink(addrs, store=False)
        conns = []
        for _ in range(5):
            s = socket.create_connection(spatetest.split_addr(addrs[0]), timeout=5)
            assert s.makefile("rb").readline().startswith(b"220")
            conns.append(s)
        wait_for(lambda: sink.stats().get("connections_now") == 5, 5, what="5 connections")
        for s in conns:
            s.close()
        wait_for(lambda: sink.stats().get("connections_now") == 0, 5, what="0 connections")
        host, port = spatetest.split_addr(addrs[1])
        msg = b"Subject: m\r\n\r\nbody\r\n"
        replies = smtp_send_many(host, port, [("a@b", ["r1@d", "r2@d"], msg)] * 3)
        assert [c for c, _ in replies] == [250, 250, 250]
        assert smtp_send(host, port, "a@b", ["r@d"], msg)[0] == 250

        def final():
            st = sink.stats()
            return st.get("messages") == 4 and st.get("connections_total") == 7 and st
        st = wait_for(final, 5, what="stats")
        assert st["connections_max"] == 5 and st["max_messages_per_connection"] == 3
        assert st["recipients"] == 7
        a, b = st["by_local"][addrs[0]], st["by_local"][addrs[1]]
        assert (a["connections_total"], a["connections_max"], a["messages"]) == (5, 5, 0), a
        got = (b["connections_total"], b["messages"], b["max_messages_per_connection"])
        assert got == (2, 4, 3), b
        assert sink.stop() == 0
        assert sink.stats()["connections_now"] == 0
        assert sink.count() == 0  # store=False keeps nothing


def test_load_smtp_source():
    with Env("sink_load") as env:
        sink = env.start_spate_sink(env.ip(1, 1), store=False)
        t0 = time.monotonic()
        p = spatetest.subprocess.run(
            ["/usr/sbin/smtp-source", "-s", "200", "-m", "4000", "-l", "2048", "-f", "a@b",
             "-t", "c@d", sink.addrs[0]], stdout=spatetest.subprocess.PIPE,
            stderr=spatetest.subprocess.STDOUT, timeout=120)
        took = time.monotonic() - t0
        assert p.returncode == 0, p.stdout
        st = wait_for(lambda: sink.stats().get("messages") == 4000 and sink.stats(), 10,
                      what="4000 messages")
        assert st["connections_total"] == 4000 and st["connections_max"] > 1, st
        print("  smtp-source: 4000 messages, 200 sessions in parallel, %.2fs" % took)


def test_postfix_smtp_sink():
    with Env("sink_postfix") as env:
        sink = env.start_smtp_sink(env.ip(1, 1))
        host, port = spatetest.split_addr(sink.addrs[0])
        assert smtp_send(host, port, "a@b", ["c@d"], corpus("msg_01.txt"))[0] == 250
        wait_for(lambda: sink.count() == 1, 5, what="smtp-sink mesg=1")


class _FakeApi(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        body = (b"# HELP spate_delivered_total x\n# TYPE spate_delivered_total counter\n"
                b"spate_delivered_total 12\n"
                b'spate_queue_depth{destination="d1.spate-test"} 3\n'
                b"spate_commit_seconds_bucket{le=\"+Inf\"} 5 1700000000\n")
        self.send_response(200)
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        n = int(self.headers["Content-Length"])
        data = self.rfile.read(n)
        self.send_response(400 if b"bad" in data else 200)
        self.end_headers()
        self.wfile.write(b'{"error": "recipients"}' if b"bad" in data else b"not json")


def test_harness_helpers():
    assert canonical(b"a\nb\r\nc\rd") == b"a\r\nb\r\nc\r\nd\r\n"
    assert canonical(b"a\r\n") == b"a\r\n"
    assert spatetest.split_addr("[::1]:25") == ("::1", 25)
    assert spatetest.split_addr("127.0.0.1", 7) == ("127.0.0.1", 7)
    with Env("sink_helpers") as env:
        srv = http.server.HTTPServer((env.ip(0, 1), 8025), _FakeApi)
        t = threading.Thread(target=srv.serve_forever, daemon=True)
        t.start()
        try:
            m = spatetest.metrics(env.http_url)
            assert m["spate_delivered_total"] == 12
            assert m['spate_queue_depth{destination="d1.spate-test"}'] == 3
            assert m['spate_commit_seconds_bucket{le="+Inf"}'] == 5
            got = spatetest.http_inject(env.http_url, {"x": "bad"})
            assert got == (400, {"error": "recipients"}), got
            assert spatetest.http_inject(env.http_url + "/api/v1/inject", {}) == (200, "not json")
        finally:
            srv.shutdown()
            srv.server_close()
        try:
            wait_for(lambda: False, 0.1, what="nothing")
            raise RuntimeError("wait_for did not time out")
        except AssertionError as e:
            assert "nothing" in str(e)
        assert 20 <= env.net <= 250
        kept = env.dir
    assert not os.path.exists(kept)


spatetest.main(globals())

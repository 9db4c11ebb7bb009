"""test_smtp_listener - the SMTP injection listener of a running spated, as a
client sees it: greeting and EHLO extensions, pipelining, dot-unstuffing,
line and size limits, sequence and syntax errors, relay control, the reply
after DATA and its "<=" log record, the connection limit and the idle
timeout. Raw sockets check the exact protocol; swaks plays a real client."""

import os
import re
import socket
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import spatetest  # noqa: E402
from spatetest import Env, canonical, strip_trace_headers, wait_for  # noqa: E402
from spatetest_smtp import Client, greeted, start  # noqa: E402

HOSTNAME = "spate.%s" % spatetest.TLD
D1 = "d1.%s" % spatetest.TLD
D2 = "d2.%s" % spatetest.TLD


def for_rcpt(sink, rcpt):
    """Stored messages whose envelope holds rcpt."""
    return [(e, m) for e, m in sink.messages() if rcpt in e["rcpt_to"]]


def send_body(c, body):
    """After 354: the body (already CRLF, dot-stuffed) and the final dot; the reply."""
    c.send(body + b".\r\n")
    return c.reply()


def test_greeting_and_ehlo_extensions():
    env, sink, spated = start("smtpl_ehlo", "message_size_limit=10K")
    with env:
        c = Client(env.smtp_addr)
        code, lines = c.reply()
        assert code == 220 and len(lines) == 1, lines
        assert lines[0].split()[1] == HOSTNAME, lines
        lines = c.expect("EHLO client.example", 250)
        assert lines[0].startswith("250-" + HOSTNAME), lines
        ext = [l[4:].upper() for l in lines[1:]]
        for want in ("PIPELINING", "SIZE 10240", "8BITMIME", "ENHANCEDSTATUSCODES", "SMTPUTF8"):
            assert want in ext, "EHLO does not list %s: %r" % (want, lines)
        c.expect("NOOP", 250, r"^250 2\.0\.0")
        c.expect("QUIT", 221, r"^221 2\.0\.0")
        assert c.at_eof(), "no close after QUIT"
        c.close()

        # HELO: a one-line 250 naming the server, and mail goes through
        c = Client(env.smtp_addr)
        assert c.reply()[0] == 220
        lines = c.expect("HELO old.example", 250)
        assert len(lines) == 1 and HOSTNAME in lines[0], lines
        c.expect("MAIL FROM:<old@example.org>", 250)
        c.expect("RCPT TO:<helo@%s>" % D1, 250)
        c.expect("DATA", 354)
        code, lines = send_body(c, b"Subject: helo\r\n\r\nold style\r\n")
        assert code == 250, lines
        mid = re.search(r"id=(\S+)", lines[0]).group(1)
        c.expect("QUIT", 221)
        c.close()
        msgs = sink.wait_messages(1)
        assert msgs[0][0]["rcpt_to"] == ["helo@%s" % D1]
        assert strip_trace_headers(msgs[0][1]) == b"Subject: helo\r\n\r\nold style\r\n"
        rec = env.log_grep(r" %s <= old@example\.org " % re.escape(mid))
        assert rec and " P=smtp " in rec[0], rec


def test_pipelined_transaction_and_arrival_record():
    env, sink, spated = start("smtpl_pipe")
    with env:
        c = greeted(env.smtp_addr, helo="pipe.example")
        rcpts = ["p1@%s" % D1, "p2@%s" % D1, "p3@%s" % D2]
        group = "MAIL FROM:<sender@example.org>\r\n" + "".join(
            "RCPT TO:<%s>\r\n" % r for r in rcpts) + "DATA\r\n"
        c.send(group)  # one write: MAIL, RCPT x3, DATA (RFC 2920)
        got = [code for code, _ in c.replies(5)]
        assert got == [250, 250, 250, 250, 354], got
        body = b"Subject: pipelined\r\n\r\nline one\r\nline two\r\n"
        c.send(body + b".\r\n")
        code, lines = c.reply()
        # the "<=" record is written before the 250 is sent: it must be in
        # the log the moment the reply arrives
        log_now = env.main_log()
        assert code == 250, lines
        m = re.fullmatch(r"250 2\.0\.0 .*id=(\S+)", lines[0])
        assert m, lines
        mid = m.group(1)
        arrivals = [l for l in log_now if re.search(r" %s <= " % re.escape(mid), l)]
        assert len(arrivals) == 1, "no '<=' record for %s when its 250 arrived" % mid
        c.expect("QUIT", 221)
        c.close()

        msgs = sink.wait_messages(2)
        got_rcpts = sorted(r for e, _ in msgs for r in e["rcpt_to"])
        assert got_rcpts == sorted(rcpts), got_rcpts
        for e, data in msgs:
            assert e["mail_from"] == "sender@example.org", e
            assert strip_trace_headers(data) == body, data
            assert ("id " + mid).encode() in data.split(b"\r\n\r\n")[0], data[:300]
        rec = arrivals[0]
        assert " <= sender@example.org " in rec, rec
        assert re.search(r" H=\(pipe\.example\) \[127\.0\.0\.1\]:\d+ ", rec), rec
        assert " P=esmtp " in rec, rec
        size = int(re.search(r" S=(\d+) ", rec).group(1))
        assert size == len(msgs[0][1]), (size, len(msgs[0][1]))
        assert rec.endswith(" for " + " ".join(rcpts)), rec


def test_dot_unstuffing():
    env, sink, spated = start("smtpl_dots", domains=1)
    with env:
        c = greeted(env.smtp_addr)
        c.expect("MAIL FROM:<dots@example.org>", 250)
        c.expect("RCPT TO:<dots@%s>" % D1, 250)
        c.expect("DATA", 354)
        # as a client sends them: every line that starts with "." gets another
        wire = b"Subject: dots\r\n\r\n..x\r\n...\r\n..\r\nx..\r\n. .\r\n"
        code, lines = send_body(c, wire)
        assert code == 250, lines
        c.expect("QUIT", 221)
        c.close()
        data = strip_trace_headers(sink.wait_messages(1)[0][1])
        assert data == b"Subject: dots\r\n\r\n.x\r\n..\r\n.\r\nx..\r\n .\r\n", data


def test_long_command_line():
    env, sink, spated = start("smtpl_long", "smtp_max_synprot_errors=0", domains=1)
    with env:
        c = greeted(env.smtp_addr)
        # 512 octets with CRLF is the limit (RFC 5321 4.5.3.1.4): accepted
        c.expect("NOOP " + "x" * 505, 250)
        c.expect("NOOP " + "x" * 506, 500, r"^500 5\.5\.2 ")
        # a line longer than the input buffer: one 500, the rest of the
        # line is skipped, not read as commands; the session goes on
        c.send("NOOP " + "y" * 40000 + "\r\nNOOP\r\n")
        got = c.replies(2)
        assert got[0][0] == 500 and got[0][1][0].startswith("500 5.5.2"), got
        assert got[1][0] == 250, got
        c.send("MAIL FROM:<" + "a" * 600 + "@example.org>\r\n")
        code, lines = c.reply()
        assert code == 500 and lines[0].startswith("500 5.5.2"), lines
        c.expect("MAIL FROM:<long@example.org>", 250)  # no transaction was open
        c.expect("RCPT TO:<long@%s>" % D1, 250)
        c.expect("DATA", 354)
        # text lines are limited to 998 octets without CRLF (RFC 5321
        # 4.5.3.1.6, message_linelength_limit): 998 is fine, 999 is refused
        # after the final dot and the session goes on
        bad = b"Subject: long\r\n\r\n" + b"z" * 999 + b"\r\n"
        code, lines = send_body(c, bad)
        assert code == 554 and lines[0].startswith("554 5.6.0"), lines
        c.expect("MAIL FROM:<long@example.org>", 250)
        c.expect("RCPT TO:<long@%s>" % D1, 250)
        c.expect("DATA", 354)
        body = b"Subject: long\r\n\r\n" + b"z" * 998 + b"\r\n"
        code, lines = send_body(c, body)
        assert code == 250, lines
        c.expect("QUIT", 221)
        c.close()
        assert strip_trace_headers(sink.wait_messages(1)[0][1]) == body


def test_message_size_limit():
    env, sink, spated = start("smtpl_size", "message_size_limit=10K", "message_linelength_limit=0",
                              domains=1)
    with env:
        before = spatetest.metrics(env.http_url)["spate_injections_rejected_total"]
        c = greeted(env.smtp_addr)
        c.expect("MAIL FROM:<big@example.org> SIZE=10241", 552, r"^552 5\.3\.4 ")
        c.expect("MAIL FROM:<big@example.org> SIZE=10240", 250)
        c.expect("RCPT TO:<big@%s>" % D1, 250)
        c.expect("DATA", 354)
        head = b"Subject: big\r\n\r\n"
        code, lines = send_body(c, head + b"b" * (10241 - len(head) - 2) + b"\r\n")
        assert code == 552 and lines[0].startswith("552 5.3.4"), lines
        # SIZE= says nothing binding: a body over the limit is refused after
        # the final dot even when MAIL announced a small size
        c.expect("MAIL FROM:<big@example.org> SIZE=100", 250)
        c.expect("RCPT TO:<big2@%s>" % D1, 250)
        c.expect("DATA", 354)
        code, lines = send_body(c, head + (b"c" * 998 + b"\r\n") * 40)
        assert code == 552, lines
        # the session goes on; a message of exactly the limit is accepted
        c.expect("MAIL FROM:<fits@example.org>", 250)
        c.expect("RCPT TO:<fits@%s>" % D1, 250)
        c.expect("DATA", 354)
        fits = head + b"f" * (10240 - len(head) - 2) + b"\r\n"
        assert len(fits) == 10240
        code, lines = send_body(c, fits)
        assert code == 250, lines
        c.expect("QUIT", 221)
        c.close()
        sink.wait_messages(1)
        time.sleep(0.3)  # a refused message, had it been queued, went out with this one
        msgs = sink.messages()
        assert [e["rcpt_to"] for e, _ in msgs] == [["fits@%s" % D1]], msgs
        assert strip_trace_headers(msgs[0][1]) == fits
        assert not env.log_grep(r"<= big@example\.org"), env.log_grep(r"<= big")
        assert len(env.log_grep(r"rejected after DATA: message too big")) == 2
        after = spatetest.metrics(env.http_url)["spate_injections_rejected_total"]
        assert after - before == 3, (before, after)


def test_sequence_and_syntax_errors():
    env, sink, spated = start("smtpl_seq", "smtp_max_synprot_errors=0", domains=1)
    with env:
        c = Client(env.smtp_addr)
        assert c.reply()[0] == 220
        c.expect("MAIL FROM:<a@example.org>", 503, r"^503 5\.5\.1 ")  # before EHLO
        c.expect("EHLO client.example", 250)
        c.expect("RCPT TO:<r@%s>" % D1, 503, r"^503 5\.5\.1 ")  # before MAIL
        c.expect("DATA", 503, r"^503 5\.5\.1 ")  # before MAIL
        c.expect("FROB the knob", 500, r"^500 5\.5\.2 ")
        c.expect("MAIL", 501)
        c.expect("MAIL TO:<a@example.org>", 501)
        c.expect("MAIL FROM:<not an address>", 501, r"^501 5\.1\.7 ")
        c.expect("MAIL FROM:<a@example.org>", 250)
        c.expect("MAIL FROM:<b@example.org>", 503, r"^503 5\.5\.1 ")  # nested
        # DATA with no accepted recipient: 503 or 554 (RFC 5321 3.3 allows both)
        code, lines = c.cmd("DATA")
        assert code in (503, 554) and " 5.5.1 " in lines[0], lines
        c.expect("RCPT TO:<bad address@%s>" % D1, 501, r"^501 5\.1\.3 ")
        c.expect("RCPT TO:<nodomain>", 501, r"^501 5\.1\.3 ")
        c.expect("RCPT TO:<@%s>" % D1, 501)
        c.expect("RCPT TO:<ok@%s> FROB=1" % D1, 555)
        c.expect("RCPT TO:<ok@%s>" % D1, 250)
        c.expect("DATA", 354)
        code, lines = send_body(c, b"Subject: after errors\r\n\r\nstill fine\r\n")
        assert code == 250, lines
        c.expect("QUIT", 221)
        c.close()
        e = sink.wait_messages(1)[0][0]
        assert e["rcpt_to"] == ["ok@%s" % D1] and e["mail_from"] == "a@example.org", e


def test_rset_and_null_sender():
    env, sink, spated = start("smtpl_rset", domains=1)
    with env:
        c = greeted(env.smtp_addr)
        c.expect("MAIL FROM:<forgotten@example.org>", 250)
        c.expect("RCPT TO:<forgotten@%s>" % D1, 250)
        c.expect("RSET", 250, r"^250 2\.0\.0")
        c.expect("DATA", 503)  # the transaction is gone
        c.expect("MAIL FROM:<>", 250)  # no "nested MAIL": RSET ended the first
        c.expect("RCPT TO:<kept@%s>" % D1, 250)
        c.expect("DATA", 354)
        code, lines = send_body(c, b"Subject: null sender\r\n\r\nbounce-like\r\n")
        assert code == 250, lines
        mid = re.search(r"id=(\S+)", lines[0]).group(1)
        c.expect("QUIT", 221)
        assert c.at_eof()
        c.close()
        msgs = sink.wait_messages(1)
        assert len(msgs) == 1 and msgs[0][0]["mail_from"] == "", msgs[0][0]
        assert msgs[0][0]["rcpt_to"] == ["kept@%s" % D1]
        assert env.log_grep(r" %s <= <> " % re.escape(mid))
        assert not env.log_grep(r"forgotten@")


def test_relay_refused_outside_relay_from_hosts():
    env = Env("smtpl_relay")
    with env:
        n = env.net
        env.start_dns(env.mx_zone(1))
        sink = env.start_spate_sink(env.sink_addrs(1))
        # the harness allows 127.0.0.0/8; the override narrows it
        spated = env.start_spated(env.write_config(),
                                  extra_args=["-o", "relay_from_hosts = 127.%d.0.0/24" % n])
        outside = "127.%d.9.9" % n
        c = greeted(env.smtp_addr, source=outside)
        c.expect("MAIL FROM:<spammer@example.org>", 250)
        c.expect("RCPT TO:<victim@%s>" % D1, 550, r"^550 5\.7\.1 ")
        code, lines = c.cmd("DATA")
        assert code in (503, 554), lines
        c.expect("QUIT", 221)
        c.close()
        rec = env.log_grep(r"rejected RCPT <victim@%s>" % re.escape(D1))
        assert rec and "[%s]" % outside in rec[0] and "relay not permitted" in rec[0], rec

        inside = "127.%d.0.9" % n
        c = greeted(env.smtp_addr, source=inside)
        c.expect("MAIL FROM:<friend@example.org>", 250)
        c.expect("RCPT TO:<friend@%s>" % D1, 250)
        c.expect("DATA", 354)
        assert send_body(c, b"Subject: relayed\r\n\r\nok\r\n")[0] == 250
        c.expect("QUIT", 221)
        c.close()
        sink.wait_messages(1)
        time.sleep(0.3)
        assert [e["rcpt_to"] for e, _ in sink.messages()] == [["friend@%s" % D1]]
        spated.check_alive()


def test_smtp_accept_max():
    env, sink, spated = start("smtpl_max", "smtp_accept_max=2", domains=1)
    with env:
        a = greeted(env.smtp_addr)
        b = Client(env.smtp_addr)
        assert b.reply()[0] == 220
        third = Client(env.smtp_addr)
        code, lines = third.reply()
        assert code == 421 and lines[0].startswith("421 4.3.2"), lines
        assert third.at_eof(), "the refused connection stays open"
        third.close()
        assert env.log_grep(r"refused: too many connections")
        # the two sessions work on; when one ends, a new one is let in
        a.expect("MAIL FROM:<a@example.org>", 250)
        b.expect("QUIT", 221)
        assert b.at_eof()
        b.close()

        def admitted():
            c = Client(env.smtp_addr)
            code = c.reply()[0]
            c.close()
            return code == 220
        wait_for(admitted, 10, 0.1, what="a session slot after QUIT")
        a.expect("RCPT TO:<a@%s>" % D1, 250)
        a.expect("QUIT", 221)
        a.close()


def test_idle_timeout():
    env, sink, spated = start("smtpl_idle", "smtp_receive_timeout=2s", domains=1)
    with env:
        c = greeted(env.smtp_addr)
        c.expect("MAIL FROM:<slow@example.org>", 250)
        t0 = time.monotonic()
        code, lines = c.reply()  # nothing sent: the server speaks first
        waited = time.monotonic() - t0
        assert code == 421 and lines[0].startswith("421 4.4.2"), lines
        assert 1.5 <= waited <= 6, waited
        assert c.at_eof(), "connection left open after the timeout"
        c.close()
        assert env.log_grep(r"SMTP command timeout")
        # activity resets the timer: a client that keeps talking is not cut off
        c = greeted(env.smtp_addr)
        for _ in range(3):
            time.sleep(1.0)
            c.expect("NOOP", 250)
        c.expect("QUIT", 221)
        c.close()


def test_swaks_clients():
    env, sink, spated = start("smtpl_swaks", domains=2)
    with env:
        host, port = spatetest.split_addr(env.smtp_addr)
        name, original = next(spatetest.corpus_messages("msg_13.txt"))
        # swaks ends the data with CRLF "." CRLF itself: no final newline here
        data = original + b".a line that swaks must dot-stuff"
        with tempfile.NamedTemporaryFile(dir=env.dir, suffix=".eml", delete=False) as f:
            f.write(data)
        common = ["--server", "%s:%d" % (host, port), "--from", "swaks@example.org",
                  "--data", "@" + f.name, "--timeout", "20"]
        rc, out = spatetest.swaks(common + ["--to", "s1@%s,s2@%s" % (D1, D2), "--pipeline"])
        assert rc == 0, out
        assert re.search(r"(?m)^<-  250 2\.0\.0 .*id=\S+$", out), out
        rc, out = spatetest.swaks(common + ["--to", "s3@%s" % D1, "--protocol", "SMTP",
                                            "--helo", "plain.example"])
        assert rc == 0, out
        msgs = sink.wait_messages(3)
        assert sorted(r for e, _ in msgs for r in e["rcpt_to"]) == ["s1@%s" % D1, "s2@%s" % D2,
                                                                     "s3@%s" % D1]
        for e, m in msgs:
            assert strip_trace_headers(m) == canonical(data), (name, e)
        assert len(env.log_grep(r"<= swaks@example\.org .* P=esmtp S=")) == 1
        assert len(env.log_grep(r"<= swaks@example\.org H=\(plain\.example\) .* P=smtp S=")) == 1


def test_8bitmime_and_smtputf8():
    env, sink, spated = start("smtpl_utf8", domains=1)
    with env:
        c = greeted(env.smtp_addr)
        # a UTF-8 address needs SMTPUTF8 (RFC 6531)
        c.expect("MAIL FROM:<j\u00fcrgen@example.org>", 553)
        c.expect("MAIL FROM:<j\u00fcrgen@example.org> SMTPUTF8 BODY=8BITMIME", 250)
        c.expect("RCPT TO:<gr\u00fc\u00df@%s>" % D1, 250)
        c.expect("DATA", 354)
        body = "Subject: gr\u00fc\u00dfe\r\n\r\n8-bit: \u00e4\u00f6\u00fc \u20ac\r\n".encode()
        body += b"raw latin-1 \xe9\r\n"
        code, lines = send_body(c, body)
        assert code == 250, lines
        c.expect("QUIT", 221)
        c.close()
        e, m = sink.wait_messages(1)[0]
        assert e["mail_from"] == "j\u00fcrgen@example.org", e
        assert e["rcpt_to"] == ["gr\u00fc\u00df@%s" % D1], e
        assert strip_trace_headers(m) == body


spatetest.main(globals())

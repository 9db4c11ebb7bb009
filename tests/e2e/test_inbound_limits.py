"""test_inbound_limits - the limits of the SMTP server and its CHUNKING
(RFC 3030) and SMTPUTF8 support, each hit by a real client over loopback:
BDAT by hand (smtplib's send_message does not use it), recipients_max,
smtp_max_unknown_commands, smtp_max_synprot_errors, smtp_enforce_sync,
smtp_accept_max with smtp_accept_reserve, and a slowloris of 1,000 idle
connections. Each checks the reply code and the log line."""

import os
import smtplib
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import spatetest  # noqa: E402
from spatetest import strip_trace_headers, wait_for  # noqa: E402
from spatetest_smtp import Client, greeted, start, vm_rss_kb  # noqa: E402

D1 = "d1.%s" % spatetest.TLD


def bdat(c, data, last=False):
    """Send one BDAT chunk; its reply."""
    c.send(b"BDAT %d%s\r\n" % (len(data), b" LAST" if last else b"") + data)
    return c.reply()


def test_bdat_by_hand():
    env, sink, spated = start("inl_bdat", domains=1)
    with env:
        c = Client(env.smtp_addr)
        assert c.reply()[0] == 220
        lines = c.expect("EHLO chunky.example", 250)
        assert "250-CHUNKING" in lines, lines
        c.expect("MAIL FROM:<chunk@example.org> BODY=BINARYMIME", 501)  # not offered
        c.expect("MAIL FROM:<chunk@example.org>", 250)
        c.expect("RCPT TO:<c1@%s>" % D1, 250)
        part1 = b"Subject: chunks\r\n\r\nfirst part, "
        part2 = b"second part\r\n.leading dot kept as sent\r\n"
        code, lines = bdat(c, part1)
        assert code == 250 and "%d octets" % len(part1) in lines[0], lines
        code, lines = bdat(c, part2, last=True)
        assert code == 250 and "id=" in lines[0], lines
        # pipelined: MAIL, RCPT, BDAT LAST in one write, three replies
        c.send(b"MAIL FROM:<chunk2@example.org>\r\nRCPT TO:<c2@%s>\r\n" % D1.encode() +
               b"BDAT 10 LAST\r\nSubject:\r\n")
        assert [r[0] for r in c.replies(3)] == [250, 250, 250]
        c.expect("QUIT", 221)
        msgs = sink.wait_messages(2)
        bodies = sorted(strip_trace_headers(m[1]) for m in msgs)
        assert part1 + part2 in bodies, bodies
        assert b"Subject:\r\n" in bodies, bodies
        assert env.log_grep(r"<= chunk@example\.org .*P=esmtp")


def test_bdat_bare_lf_and_size_refused():
    env, sink, spated = start("inl_bdatbad", "message_size_limit=1K", domains=1)
    with env:
        c = greeted(env.smtp_addr)
        c.expect("MAIL FROM:<lf@example.org>", 250)
        c.expect("RCPT TO:<lf@%s>" % D1, 250)
        code, lines = bdat(c, b"Subject: x\r\n\r\nbare\nline\r\n", last=True)
        assert code == 554 and lines[0].startswith("554 5.5.2"), lines
        c.expect("MAIL FROM:<big@example.org>", 250)
        c.expect("RCPT TO:<big@%s>" % D1, 250)
        code, lines = bdat(c, b"a" * 600 + b"\r\n")
        assert code == 250, lines
        code, lines = bdat(c, b"b" * 600 + b"\r\n", last=True)
        assert code == 552 and lines[0].startswith("552 5.3.4"), lines
        c.expect("NOOP", 250)  # the session goes on
        c.close()
        assert env.log_grep(r"rejected after BDAT: bare <LF> in message")
        assert env.log_grep(r"rejected after BDAT: message too big")
        time.sleep(0.5)
        assert sink.messages() == []


def test_bdat_not_offered_or_out_of_sequence():
    env, sink, spated = start("inl_nochunk", "chunking_advertise_hosts=", domains=1)
    with env:
        c = Client(env.smtp_addr)
        assert c.reply()[0] == 220
        assert not [l for l in c.expect("EHLO x.example", 250) if "CHUNKING" in l]
        c.expect("MAIL FROM:<n@example.org>", 250)
        c.expect("RCPT TO:<n@%s>" % D1, 250)
        # the chunk's octets are read and dropped, never taken as commands
        code, lines = bdat(c, b"QUIT\r\n", last=True)
        assert code == 503 and "CHUNKING" in lines[0], lines
        c.expect("NOOP", 250)
        c.close()
    env, sink, spated = start("inl_bdatseq", domains=1)
    with env:
        c = greeted(env.smtp_addr)
        code, lines = bdat(c, b"RSET\r\n", last=True)
        assert code == 503 and "need MAIL" in lines[0], lines
        c.expect("NOOP", 250)
        c.close()


def test_recipients_max():
    env, sink, spated = start("inl_rcptmax", "recipients_max=3", domains=1)
    with env:
        c = greeted(env.smtp_addr)
        c.expect("MAIL FROM:<many@example.org>", 250)
        for i in range(3):
            c.expect("RCPT TO:<r%d@%s>" % (i, D1), 250)
        c.expect("RCPT TO:<r3@%s>" % D1, 452, r"^452 4\.5\.3 ")
        c.expect("DATA", 354)
        c.send(b"Subject: three\r\n\r\nbody\r\n.\r\n")
        assert c.reply()[0] == 250
        c.close()
        assert env.log_grep(r"too many recipients \(recipients_max = 3\)")
        msgs = sink.wait_messages(1)
        assert sorted(r for m in msgs for r in m[0]["rcpt_to"]) == \
            ["r%d@%s" % (i, D1) for i in range(3)]


def test_unknown_commands_limit():
    env, sink, spated = start("inl_unknown", domains=1)
    with env:
        c = greeted(env.smtp_addr)
        for verb in ("XYZZY", "FOO", "BAR"):
            c.expect(verb, 500, r"^500 5\.5\.2 ")
        c.expect("WIBBLE", 500, r"^500 5\.5\.1 too many unrecognized commands")
        assert c.at_eof()
        assert env.log_grep(r"dropped: too many unrecognized commands")


def test_syntax_errors_limit():
    env, sink, spated = start("inl_synprot", domains=1)
    with env:
        c = greeted(env.smtp_addr)
        for _ in range(3):
            c.expect("MAIL FROM:broken", 501)
        c.expect("RCPT TO:<x@%s>" % D1, 503)  # the fourth error is answered, then the drop
        code, lines = c.reply()
        assert code == 421 and "too many syntax or protocol errors" in lines[0], lines
        assert c.at_eof()
        assert env.log_grep(r"dropped: too many syntax or protocol errors")


def test_sync_errors():
    env, sink, spated = start("inl_sync", domains=1)
    with env:
        # HELO: PIPELINING was not advertised, so nothing may follow unanswered
        c = Client(env.smtp_addr)
        assert c.reply()[0] == 220
        c.expect("HELO plain.example", 250)
        c.send(b"MAIL FROM:<a@example.org>\r\nRCPT TO:<a@%s>\r\n" % D1.encode())
        code, lines = c.reply()
        assert code == 554 and lines[0].startswith("554 5.5.0 SMTP synchronization error"), lines
        assert c.at_eof()
        # EHLO must be answered before the next command
        c = Client(env.smtp_addr)
        assert c.reply()[0] == 220
        c.send(b"EHLO fast.example\r\nMAIL FROM:<b@example.org>\r\n")
        code, lines = c.reply()
        assert code == 554, lines
        assert c.at_eof()
        assert len(env.log_grep(r"SMTP synchronization error \(input sent without waiting")) == 2
        # with PIPELINING, MAIL RCPT DATA in one write are fine
        c = greeted(env.smtp_addr)
        c.send(b"MAIL FROM:<ok@example.org>\r\nRCPT TO:<ok@%s>\r\nDATA\r\n" % D1.encode())
        assert [r[0] for r in c.replies(3)] == [250, 250, 354]
        c.send(b"Subject: ok\r\n\r\nok\r\n.\r\n")
        assert c.reply()[0] == 250
        c.close()
    env, sink, spated = start("inl_nosync", "smtp_enforce_sync=false", domains=1)
    with env:
        c = Client(env.smtp_addr)
        assert c.reply()[0] == 220
        c.send(b"HELO plain.example\r\nMAIL FROM:<a@example.org>\r\n")
        assert [r[0] for r in c.replies(2)] == [250, 250]
        c.close()


def test_accept_max_with_reserve():
    env, sink, spated = start("inl_reserve", "smtp_accept_max=3", "smtp_accept_reserve=1",
                              "smtp_reserve_hosts=127.0.0.2", "smtp_accept_max_per_host=0",
                              domains=1)
    with env:
        held = [greeted(env.smtp_addr) for _ in range(2)]
        c = Client(env.smtp_addr)  # the third slot is reserved
        code, lines = c.reply()
        assert code == 421 and lines[0].startswith("421 4.3.2"), lines
        r = greeted(env.smtp_addr, source="127.0.0.2")  # a reserve host gets it
        c = Client(env.smtp_addr, source="127.0.0.2")  # and the maximum holds for it too
        assert c.reply()[0] == 421
        assert env.log_grep(r"refused: too many connections \(the rest are reserved\)")
        assert env.log_grep(r"\[127\.0\.0\.2\]:\d+ refused: too many connections$")
        for h in held + [r]:
            h.expect("QUIT", 221)


def test_smtputf8_arrival():
    env, sink, spated = start("inl_utf8", domains=1)
    with env:
        s = smtplib.SMTP(*spatetest.split_addr(env.smtp_addr), timeout=10)
        s.ehlo("utf8.example")
        assert s.has_extn("smtputf8")
        s.sendmail("jörg@example.org", ["ünïcode@%s" % D1],
                   "Subject: ok\r\n\r\nbody\r\n".encode(), mail_options=["SMTPUTF8"])
        s.quit()
        assert env.log_grep(r"<= jörg@example\.org .*P=utf8smtp")
        sink.wait_messages(1)


def raise_nofile(n):
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < n:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(n, hard), hard))


def test_slowloris_thousand_idle_connections():
    raise_nofile(4096)
    env, sink, spated = start("inl_slowloris", "smtp_accept_max=1000",
                              "smtp_accept_max_per_host=0", "smtp_first_command_timeout=3s",
                              domains=1)
    with env:
        before = vm_rss_kb(spated.pid)
        idle = []
        for i in range(1000):  # each says nothing, or half a line, and waits
            s = socket.create_connection(spatetest.split_addr(env.smtp_addr), timeout=10)
            assert s.recv(100).startswith(b"220 ")  # accepted and greeted
            if i % 2:
                s.sendall(b"EHLO slo")
            idle.append(s)
        extra = Client(env.smtp_addr)  # the 1,001st is refused: the limit holds
        code, lines = extra.reply()
        assert code == 421, lines
        grown = vm_rss_kb(spated.pid) - before
        print("1,000 idle sessions: VmRSS grew %d kB" % grown, flush=True)
        assert grown < 64 * 1024, grown
        # the first-command timeout frees them all; new clients are served
        wait_for(lambda: len(env.log_grep(r"timeout before the first command")) >= 1000, 20)
        c = greeted(env.smtp_addr)
        c.expect("QUIT", 221)
        for s in idle:
            s.close()
        spated.check_alive()


if __name__ == "__main__":
    spatetest.main(globals())

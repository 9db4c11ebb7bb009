"""test_holes_smtp - attacks on the SMTP injection listener, as a hostile
client makes them, and what spate's own SMTP client puts on the wire:

  - SMTP smuggling (CVE-2023-51764/51765 class): "<LF>.<LF>",
    "<CR><LF>.<LF>", "<LF>.<CR><LF>" and "<CR>.<CR>" never end DATA; the
    message holding one is refused (554 5.5.2) and the hidden second
    transaction is never queued; a bare LF/CR in a command line refuses the
    whole line (500 5.5.2);
  - spate's outbound dot-stuffing: on the wire every line ends in CRLF and
    the data ends only with CRLF.CRLF, whatever the message held;
  - connection exhaustion: smtp_accept_max_per_host and
    smtp_first_command_timeout keep one host's idle connections from
    locking everyone else out;
  - what held and must keep holding: 100,000 pipelined RCPTs (452 after
    1,000), 10 MB of unread pipelined commands (flat RSS), a 100 MB message
    (552), NUL in commands (refused).

Raw sockets on loopback only; every loop is bounded in count and time."""

import os
import re
import resource
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import spatetest  # noqa: E402
from spatetest import Env, strip_trace_headers, wait_for  # noqa: E402
from spatetest_smtp import Client, greeted, vm_rss_kb  # noqa: E402

D1 = "d1.%s" % spatetest.TLD


def start(name, *overrides, domains=1, store=True):
    """nsd (d1..dN), a spate-sink and spated with -o overrides."""
    env = Env(name)
    try:
        env.start_dns(env.mx_zone(domains))
        sink = env.start_spate_sink(env.sink_addrs(domains), store=store)
        args = []
        for o in overrides:
            args += ["-o", o]
        spated = env.start_spated(env.write_config(), extra_args=args)
    except BaseException:
        env.close(failed=True)
        raise
    return env, sink, spated


def raise_nofile(want):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < want:
        if hard != resource.RLIM_INFINITY and hard < want:
            raise spatetest.Skip("RLIMIT_NOFILE hard limit %d < %d" % (hard, want))
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


def clean_message(c, rcpt, subject):
    """A correct transaction on an open session; returns the 250 line."""
    c.expect("MAIL FROM:<good@example.org>", 250)
    c.expect("RCPT TO:<%s>" % rcpt, 250)
    c.expect("DATA", 354)
    c.send("Subject: %s\r\n\r\nclean\r\n.\r\n" % subject)
    code, lines = c.reply()
    assert code == 250, lines
    return lines[0]


HIDDEN = ("MAIL FROM:<evil@example.org>\r\nRCPT TO:<hidden@%s>\r\nDATA\r\n"
          "Subject: smuggled\r\n\r\nevil\r\n" % D1).encode()


def smuggle(name, sep):
    """A message whose text holds sep and then a whole second transaction.
    Only CRLF.CRLF ends DATA: the reply to the real final dot refuses the
    message, nothing of it (nor of the hidden transaction) is queued, and
    the next, clean message is the only one to arrive."""
    env, sink, spated = start(name)
    with env:
        c = greeted(env.smtp_addr)
        c.expect("MAIL FROM:<sender@example.org>", 250)
        c.expect("RCPT TO:<victim@%s>" % D1, 250)
        c.expect("DATA", 354)
        c.send(b"Subject: first\r\n\r\nhello" + sep + HIDDEN + b".\r\n")
        code, lines = c.reply()
        assert code == 554 and re.match(r"554 5\.5\.2 message contains bare <(LF|CR)>",
                                        lines[0]), "%r -> %r" % (sep, lines)
        clean_message(c, "good@%s" % D1, "after")
        c.expect("QUIT", 221)
        c.close()
        sink.wait_messages(1)
        time.sleep(0.5)  # a smuggled message would have gone out with the clean one
        msgs = sink.messages()
        assert [e["rcpt_to"] for e, _ in msgs] == [["good@%s" % D1]], msgs
        assert b"evil" not in msgs[0][1] and b"hello" not in msgs[0][1], msgs[0][1]
        assert not env.log_grep(r"<= (evil|sender)@example\.org"), env.log_grep("<=")
        assert env.log_grep(r"rejected after DATA: bare <(LF|CR)> in message")


def test_smuggling_lf_dot_lf():
    smuggle("holes_sm_lflf", b"\n.\n")


def test_smuggling_crlf_dot_lf():
    smuggle("holes_sm_crlflf", b"\r\n.\n")


def test_smuggling_lf_dot_crlf():
    smuggle("holes_sm_lfcrlf", b"\n.\r\n")


def test_smuggling_cr_dot_cr():
    smuggle("holes_sm_crcr", b"\r.\r")


def test_smuggling_bare_lf_in_command():
    env, sink, spated = start("holes_sm_cmd")
    with env:
        c = greeted(env.smtp_addr)
        # the whole line up to the real CRLF is refused: MAIL does not run
        c.send("MAIL FROM:<evil@example.org>\nRCPT TO:<hidden@%s>\r\n" % D1)
        code, lines = c.reply()
        assert code == 500 and lines[0] == "500 5.5.2 bare <LF> received", lines
        c.send("NOOP\rMAIL FROM:<evil@example.org>\r\n")
        code, lines = c.reply()
        assert code == 500 and lines[0] == "500 5.5.2 bare <CR> received", lines
        c.send("DATA\n.\n")  # not DATA: no 354, no message
        c.send("DATA\r\n")
        code, lines = c.reply()
        assert code == 500 and "bare <LF>" in lines[0], lines
        clean_message(c, "good@%s" % D1, "after bare lf")  # no "nested MAIL"
        c.expect("QUIT", 221)
        c.close()
        sink.wait_messages(1)
        time.sleep(0.3)
        assert [e["mail_from"] for e, _ in sink.messages()] == ["good@example.org"]


class RawReceiver:
    """A minimal SMTP receiver on one address that records the raw octets of
    every DATA section (up to and including the final dot line)."""

    def __init__(self, addr):
        host, port = spatetest.split_addr(addr)
        self.ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.ls.bind((host, port))
        self.ls.listen(16)
        self.ls.settimeout(0.2)
        self.datas = []
        self.stop = False
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        deadline = time.monotonic() + 60
        while not self.stop and time.monotonic() < deadline:
            try:
                conn, _ = self.ls.accept()
            except socket.timeout:
                continue
            try:
                self.session(conn, deadline)
            except OSError:
                pass
            finally:
                conn.close()
        self.ls.close()

    def session(self, conn, deadline):
        conn.settimeout(10)
        conn.sendall(b"220 raw.example ESMTP\r\n")
        buf, data = b"", None
        while not self.stop and time.monotonic() < deadline:
            if data is not None:
                k = buf.find(b"\r\n.\r\n")
                end = 3 if buf.startswith(b".\r\n") else (k + 5 if k >= 0 else 0)
                if end:
                    self.datas.append(buf[:end])
                    buf, data = buf[end:], None
                    conn.sendall(b"250 2.0.0 stored\r\n")
                    continue
            elif b"\r\n" in buf:
                line, buf = buf.split(b"\r\n", 1)
                verb = line[:4].upper()
                if verb == b"DATA":
                    data = b""
                    conn.sendall(b"354 go\r\n")
                elif verb == b"QUIT":
                    conn.sendall(b"221 bye\r\n")
                    return
                else:
                    conn.sendall(b"250 raw.example\r\n")
                continue
            chunk = conn.recv(65536)
            if not chunk:
                return
            buf += chunk

    def close(self):
        self.stop = True
        self.thread.join(5)


def check_wire(raw):
    """CRLF lines only, one final dot at the very end; returns the unstuffed text."""
    assert raw.endswith(b"\r\n.\r\n") or raw == b".\r\n", raw[-20:]
    assert re.search(rb"(?<!\r)\n", raw) is None, "bare LF on the wire: %r" % raw
    assert re.search(rb"\r(?!\n)", raw) is None, "bare CR on the wire: %r" % raw
    lines = raw[:-3].split(b"\r\n")[:-1]
    for line in lines:
        assert line != b".", "a lone dot inside the data: %r" % raw
    return b"".join((l[1:] if l.startswith(b".") else l) + b"\r\n" for l in lines)


def test_outbound_dot_stuffing_on_the_wire():
    env = Env("holes_outbound")
    with env:
        env.start_dns(env.mx_zone(1))
        rx = RawReceiver(env.sink_addrs(1)[0])
        try:
            spated = env.start_spated(env.write_config())
            # HTTP content with every awkward form: bare LF, bare CR, dot lines
            content = ("Subject: wire\n\n.\n..\n.\r\n. \nx\n.x\r\n\r.\r\n"
                       "a\n.\nb\r\n.\rc\nlast .")
            status, ans = spatetest.http_inject(env.http_url, {
                "envelope_sender": "http@example.org", "recipients": ["w1@%s" % D1],
                "content": content})
            assert status in (200, 202), (status, ans)
            # SMTP: a client's correctly stuffed lines ".", "..", ". x"
            c = greeted(env.smtp_addr)
            c.expect("MAIL FROM:<smtp@example.org>", 250)
            c.expect("RCPT TO:<w2@%s>" % D1, 250)
            c.expect("DATA", 354)
            c.send(b"Subject: wire2\r\n\r\n..\r\n...\r\n.. x\r\nx.\r\n.\r\n")
            assert c.reply()[0] == 250
            # a bare CR before a dot: refused here; were it kept, the wire
            # check below would see it
            c.expect("MAIL FROM:<smtp@example.org>", 250)
            c.expect("RCPT TO:<w3@%s>" % D1, 250)
            c.expect("DATA", 354)
            c.send(b"Subject: wire3\r\n\r\nx\r.\r\n.\r\n")
            code3 = c.reply()[0]
            assert code3 in (250, 554), code3
            c.expect("QUIT", 221)
            c.close()
            n = 3 if code3 == 250 else 2
            wait_for(lambda: len(rx.datas) >= n, 30, what="%d messages at the raw receiver" % n)
        finally:
            rx.close()
        got = sorted(strip_trace_headers(check_wire(raw)) for raw in rx.datas)
        assert code3 == 554, "a message with a bare CR was accepted"  # and sent cleanly
        want = sorted([
            b"Subject: wire\r\n\r\n.\r\n..\r\n.\r\n. \r\nx\r\n.x\r\n\r\n.\r\n"
            b"a\r\n.\r\nb\r\n.\r\nc\r\nlast .\r\n",
            b"Subject: wire2\r\n\r\n.\r\n..\r\n. x\r\nx.\r\n"])
        assert got == want, got
        spated.check_alive()


def test_thousand_idle_connections_then_normal_client():
    raise_nofile(4096)
    env, sink, spated = start("holes_idle1000")
    with env:
        host, port = spatetest.split_addr(env.smtp_addr)
        idle = []
        try:
            for _ in range(1000):
                idle.append(socket.create_connection((host, port), timeout=10,
                                                     source_address=("127.0.0.1", 0)))
            first = {}
            for s in idle:  # every one is answered: admitted (220) or refused (421)
                line = s.makefile("rb").readline()
                first[line[:9]] = first.get(line[:9], 0) + 1
            t0 = time.monotonic()
            c = Client(env.smtp_addr, source="127.0.0.77")
            code, lines = c.reply()
            if code == 220:
                c.expect("EHLO normal.example", 250)
            served = time.monotonic() - t0
            print("1000 idle from 127.0.0.1: %r; client from 127.0.0.77: %d after %.3f s"
                  % (first, code, served), flush=True)
            assert code == 220, "normal client refused while 1000 idle: %r" % lines
            assert served < 1.0, served
            assert first == {b"220 spate": 100, b"421 4.7.0": 900}, first
            clean_message(c, "normal@%s" % D1, "normal")
            c.expect("QUIT", 221)
            c.close()
        finally:
            for s in idle:
                s.close()
        assert sink.wait_messages(1)[0][0]["rcpt_to"] == ["normal@%s" % D1]
        assert env.log_grep(r"refused: too many connections from this host")
        spated.check_alive()


def test_smtp_accept_max_per_host():
    env, sink, spated = start("holes_perhost", "smtp_accept_max_per_host=2")
    with env:
        a = greeted(env.smtp_addr, source="127.0.0.1")
        b = greeted(env.smtp_addr, source="127.0.0.1")
        third = Client(env.smtp_addr, source="127.0.0.1")
        code, lines = third.reply()
        assert lines == ["421 4.7.0 too many connections from your host"], lines
        assert third.at_eof(), "the refused connection stays open"
        third.close()
        other = greeted(env.smtp_addr, source="127.0.0.78")  # another host is served
        other.expect("QUIT", 221)
        other.close()
        b.expect("QUIT", 221)
        assert b.at_eof()
        b.close()

        def admitted():
            c = Client(env.smtp_addr, source="127.0.0.1")
            code = c.reply()[0]
            c.close()
            return code == 220
        wait_for(admitted, 10, 0.1, what="a per-host slot after QUIT")
        a.expect("NOOP", 250)
        a.close()


def test_first_command_timeout():
    env, sink, spated = start("holes_firstcmd", "smtp_first_command_timeout=1s",
                              "smtp_receive_timeout=30s")
    with env:
        silent = Client(env.smtp_addr)
        dribble = Client(env.smtp_addr)
        talker = Client(env.smtp_addr)
        t0 = time.monotonic()
        for c in (silent, dribble, talker):
            assert c.reply()[0] == 220
        talker.expect("EHLO talker.example", 250)
        dribble.send("EH")  # input that is not yet a command does not extend the wait
        code, lines = silent.reply()
        waited = time.monotonic() - t0
        assert code == 421 and lines[0].startswith("421 4.4.2"), lines
        assert 0.5 <= waited <= 4, waited
        assert silent.at_eof()
        code, lines = dribble.reply()
        assert code == 421 and lines[0].startswith("421 4.4.2"), lines
        assert time.monotonic() - t0 <= 4
        # after the first command smtp_receive_timeout (30s) applies
        time.sleep(max(0.0, 2.5 - (time.monotonic() - t0)))
        talker.expect("NOOP", 250)
        talker.expect("QUIT", 221)
        for c in (silent, dribble, talker):
            c.close()
        assert len(env.log_grep(r"SMTP command timeout before the first command")) == 2


def test_hundred_thousand_rcpts_pipelined():
    env, sink, spated = start("holes_rcpts")
    with env:
        c = greeted(env.smtp_addr)
        n = 100000
        cmds = ["MAIL FROM:<many@example.org>"] + ["RCPT TO:<r%06d@%s>" % (i, D1)
                                                   for i in range(n)] + ["DATA"]
        blob = ("\r\n".join(cmds) + "\r\n").encode()
        sender = threading.Thread(target=c.send, args=(blob,), daemon=True)
        t0 = time.monotonic()
        sender.start()
        codes = {}
        for i in range(n + 1):
            code, lines = c.reply()
            if i > 0:
                codes[code] = codes.get(code, 0) + 1
                if i <= 1000:
                    assert code == 250, (i, lines)
                else:
                    assert lines[0] == "452 4.5.3 too many recipients", (i, lines)
        code, lines = c.reply()
        elapsed = time.monotonic() - t0
        sender.join(10)
        assert codes == {250: 1000, 452: n - 1000}, codes
        assert code == 354, lines
        c.send(b"Subject: many\r\n\r\nto a thousand\r\n.\r\n")
        assert c.reply()[0] == 250
        c.expect("QUIT", 221)
        c.close()
        print("100000 pipelined RCPTs answered in %.2f s" % elapsed, flush=True)
        assert elapsed < 30, elapsed

        def delivered():
            return sum(len(e["rcpt_to"]) for e, _ in sink.messages())
        wait_for(lambda: delivered() >= 1000, 30, 0.2, what="1000 recipients delivered")
        got = sorted(r for e, _ in sink.messages() for r in e["rcpt_to"])
        assert got == ["r%06d@%s" % (i, D1) for i in range(1000)], got[:3]


def test_unread_pipelined_commands_rss_flat():
    env, sink, spated = start("holes_unread")
    with env:
        c = greeted(env.smtp_addr)
        before = vm_rss_kb(spated.pid)
        line = b"NOOP " + b"x" * 500 + b"\r\n"
        chunk = line * 128  # 64 KB
        sent, stalled_since, t0 = 0, None, time.monotonic()
        c.sock.settimeout(0.2)
        while sent < 10 * 1024 * 1024 and time.monotonic() - t0 < 10:
            try:
                sent += c.sock.send(chunk)
                stalled_since = None
            except socket.timeout:
                stalled_since = stalled_since or time.monotonic()
                if time.monotonic() - stalled_since > 2:
                    break  # the daemon stopped reading: the point of the test
        time.sleep(0.5)
        after = vm_rss_kb(spated.pid)
        print("unread commands: %d octets taken; VmRSS %d -> %d kB" % (sent, before, after),
              flush=True)
        assert after - before < 16 * 1024, (before, after)
        other = greeted(env.smtp_addr)  # the daemon still serves others
        other.expect("QUIT", 221)
        other.close()
        c.close()
        spated.check_alive()


def test_hundred_mb_message_refused():
    env, sink, spated = start("holes_100mb")
    with env:
        c = greeted(env.smtp_addr)
        c.expect("MAIL FROM:<huge@example.org>", 250)
        c.expect("RCPT TO:<huge@%s>" % D1, 250)
        c.expect("DATA", 354)
        block = (b"h" * 998 + b"\r\n") * 1024  # 1 MB
        t0 = time.monotonic()
        for _ in range(100):
            c.send(block)
        c.send(b".\r\n")
        code, lines = c.reply()
        elapsed = time.monotonic() - t0
        print("100 MB message answered %d in %.2f s" % (code, elapsed), flush=True)
        assert code == 552 and lines[0].startswith("552 5.3.4"), lines
        clean_message(c, "fits@%s" % D1, "after huge")
        c.expect("QUIT", 221)
        c.close()
        sink.wait_messages(1)
        time.sleep(0.3)
        assert [e["rcpt_to"] for e, _ in sink.messages()] == [["fits@%s" % D1]]
        assert env.log_grep(r"rejected after DATA: message too big")


def test_nul_in_commands_refused():
    env, sink, spated = start("holes_nul", "smtp_max_synprot_errors=0",
                              "smtp_max_unknown_commands=0")
    with env:
        c = greeted(env.smtp_addr)
        for raw in (b"NO\0OP\r\n", b"MAIL FROM:<a\0b@example.org>\r\n", b"\0\r\n",
                    b"EHLO evil\0host\r\n"):
            c.send(raw)
            code, lines = c.reply()
            assert code == 500 and lines[0].startswith("500 5.5.2"), (raw, lines)
        clean_message(c, "nul@%s" % D1, "after nul")  # MAIL did not run, no EHLO change
        c.expect("QUIT", 221)
        c.close()
        assert sink.wait_messages(1)[0][0]["mail_from"] == "good@example.org"
        with open(env.log_path, "rb") as f:
            log = f.read()
        assert b"\0" not in log and re.search(rb"[\x01-\x08\x0b-\x1f\x7f]", log) is None


spatetest.main(globals())

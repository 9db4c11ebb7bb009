"""test_inbound_interop - real MTAs relaying into spate's SMTP server over
STARTTLS (RFC 3207): a private Postfix (relayhost = spated,
smtp_tls_security_level = encrypt) and a private Exim (manualroute to spated,
hosts_require_tls = *, once with DATA and once with BDAT, RFC 3030). spated
takes each message from them (P=esmtps, X=TLS... on its "<=" line) and
delivers it on to a storing spate-sink, where the message must arrive with
its envelope and, once the trace headers are stripped, byte for byte as it
was submitted: 8-bit bodies (RFC 6152) and UTF-8 addresses (RFC 6531)
included. The peers' own logs must show the TLS session and the server's
250 reply."""

import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import spatetest  # noqa: E402
from spatetest import Env, wait_for, strip_trace_headers  # noqa: E402
import spatetest_peers  # noqa: E402

TLD = spatetest.TLD
D1 = "d1.%s" % TLD
# what spated logs for mail that arrived over STARTTLS from an ESMTP client;
# with SMTPUTF8 the protocol is RFC 6531's "UTF8SMTPS" (Exim would log utf8esmtps)
ARRIVAL_TLS = r" P=esmtps X=TLS1\.[23]:\S+ "
ARRIVAL_TLS_UTF8 = r" P=utf8smtps X=TLS1\.[23]:\S+ "
# the headers a relay may prepend (each hop adds its Received:)
TRACE = (b"received",)


def _start(name):
    """An Env with nsd (d1), a storing sink for d1 and spated offering STARTTLS
    with certs["right"] (chain included); returns (env, sink, certs)."""
    env = Env(name)
    try:
        certs = env.make_certs(1)
        env.start_dns(env.mx_zone(1))
        sink = env.start_spate_sink(env.sink_addrs(1))
        tls = "tls_certificate = %s\ntls_privatekey = %s\n" % (certs["right_chain"],
                                                              certs["right_key"])
        env.start_spated(env.write_config(extra_main=tls))
    except BaseException:
        env.close(failed=True)
        raise
    return env, sink, certs


def _message(subject, body, sender, rcpt):
    """A complete message (every header a relay would otherwise add), CRLF."""
    head = ("From: <%s>\r\nTo: <%s>\r\nSubject: %s\r\nDate: Mon, 1 Jun 2026 10:00:00 +0000\r\n"
            "Message-ID: <%s@interop.%s>\r\nMIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
            % (sender, rcpt, subject, re.sub(r"\W", "", subject), TLD))
    return head.encode("utf-8") + body


def _arrivals(env, sender, n, timeout=30):
    """Wait for n '<=' lines of spated's log for the sender; returns them."""
    rx = r" <= %s " % re.escape(sender)
    return wait_for(lambda: len(env.log_grep(rx)) >= n and env.log_grep(rx), timeout, 0.2,
                    what="%d arrivals from %s; log tail:\n%s"
                    % (n, sender, "\n".join(env.main_log()[-15:])))


def _check_delivered(sink, sent):
    """Each of sent [(sender, rcpt, data)] reached the sink once, with its
    envelope, and its text unchanged under the trace headers."""
    got = sink.wait_messages(len(sent), timeout=40)
    assert len(got) == len(sent), [e for e, _ in got]
    for sender, rcpt, data in sent:
        match = [(e, m) for e, m in got if e["rcpt_to"] == [rcpt]]
        assert len(match) == 1, (rcpt, [e for e, _ in got])
        e, m = match[0]
        assert e["mail_from"] == sender, e
        assert strip_trace_headers(m, TRACE) == data, (rcpt, m)


def _spate_id(env, sender):
    """The message id on spated's '<=' line for sender."""
    return _arrivals(env, sender, 1)[0].split()[2]


def _check_arrival_lines(env, sent):
    """spated logged each message as taken over STARTTLS from an ESMTP client."""
    for sender, rcpt, _ in sent:
        line = _arrivals(env, sender, 1)[0]
        utf8 = any(ord(c) > 127 for c in sender + rcpt)
        assert re.search(ARRIVAL_TLS_UTF8 if utf8 else ARRIVAL_TLS, line), line
        assert line.endswith(" for " + rcpt), line


def test_postfix_relays_over_starttls():
    """Postfix relays 3 messages into spated with STARTTLS required: plain
    ASCII, an 8-bit body (BODY=8BITMIME) and a UTF-8 envelope (SMTPUTF8).
    Postfix logs a trusted TLS connection and status=sent for each."""
    env, sink, certs = _start("interop-postfix")
    with env:
        relay = spatetest_peers.start_postfix_relay(env, "%s:2526" % env.ip(4, 1),
                                                   env.smtp_addr, certs["ca"])
        sent = [("ascii@sender.%s" % TLD, "plain@%s" % D1,
                 _message("plain", b"Plain ASCII text.\r\n.leading dot\r\n", "ascii@x", "plain@x")),
                ("eight@sender.%s" % TLD, "eightbit@%s" % D1,
                 _message("8bit", "Gr\u00fc\u00dfe, \u00e9t\u00e9 \u20ac\r\n".encode()
                          + b"raw latin-1 \xe9\xe8\r\n", "eight@x", "eightbit@x")),
                ("j\u00fcrgen@sender.%s" % TLD, "gr\u00fc\u00df@%s" % D1,
                 _message("utf8", "Envelope in UTF-8: gr\u00fc\u00df\r\n".encode(),
                          "j\u00fcrgen@x", "gr\u00fc\u00df@x"))]
        options = [(), ("BODY=8BITMIME",), ("SMTPUTF8", "BODY=8BITMIME")]
        for (sender, rcpt, data), opts in zip(sent, options):
            assert relay.send(sender, [rcpt], data, opts) == {}, rcpt
        relay.wait_log(r" status=sent ", 3)
        for sender, rcpt, _ in sent:
            line = relay.log_grep(r" to=<%s>, " % re.escape(rcpt))
            assert len(line) == 1, (rcpt, relay.log())
            assert "relay=%s[%s]:%d" % (env.spated_ip, env.spated_ip, spatetest.SMTP_PORT) \
                in line[0], line
            assert "status=sent (250 2.0.0 OK id=%s)" % _spate_id(env, sender) in line[0], line
        tls = relay.log_grep(r"(Trusted|Untrusted|Verified) TLS connection established to "
                             + re.escape(env.spated_ip))
        assert tls and all("Trusted TLS connection" in l for l in tls), tls
        assert all(re.search(r"TLSv1\.[23] with cipher", l) for l in tls), tls
        _check_delivered(sink, sent)
        _check_arrival_lines(env, sent)


def test_exim_relays_over_starttls_with_and_without_chunking():
    """Exim delivers 2 messages to spated with hosts_require_tls = *: the
    first with DATA (hosts_try_chunking empty), the second with BDAT (Exim
    uses CHUNKING when the server offers it). Its main log shows each
    delivery over TLS 1.3 with a verified certificate and spated's
    "250 2.0.0 OK id=..." reply; the BDAT one carries Exim's K flag."""
    env, sink, certs = _start("interop-exim")
    with env:
        exim = spatetest_peers.EximClient(env, env.smtp_addr, certs["ca"])
        sent = [("data@sender.%s" % TLD, "viadata@%s" % D1,
                 _message("exim data", b"Sent with DATA.\r\n.leading dot\r\n", "data@x",
                          "viadata@x")),
                ("bdat@sender.%s" % TLD, "viabdat@%s" % D1,
                 _message("exim bdat", "Sent with BDAT: \u00e4\u00f6\u00fc\r\n".encode() * 200,
                          "bdat@x", "viabdat@x"))]
        for (sender, rcpt, data), chunking in zip(sent, (False, True)):
            rc, out = exim.send(sender, [rcpt], data, chunking=chunking)
            assert rc == 0, (rc, out, exim.paniclog())
        for (sender, rcpt, _), chunking in zip(sent, (False, True)):
            lines = exim.log_grep(r" => %s " % re.escape(rcpt))
            assert len(lines) == 1, (rcpt, exim.log())
            line = lines[0]
            assert re.search(r" H=%s \[%s\]:%d " % (re.escape(env.spated_ip),
                                                   re.escape(env.spated_ip),
                                                   spatetest.SMTP_PORT), line), line
            assert re.search(r" X=TLS1\.3:\S+ CV=yes ", line), line
            assert ' C="250 2.0.0 OK id=%s"' % _spate_id(env, sender) in line, line
            assert (" K " in line) == chunking, line
        _check_delivered(sink, sent)
        _check_arrival_lines(env, sent)


spatetest.main(globals())

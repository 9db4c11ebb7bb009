"""End to end: recipient domains that used to be accepted and then bounced
(address literals, internationalised domain names) and configuration values
that reached the wire.

- A U-label domain sent with SMTPUTF8 is looked up by its A-labels
  (xn--...) and delivered; the receiver sees the UTF-8 address in RCPT TO.
  A domain that IDNA2008 refuses gets 501 5.1.2 at RCPT.
- With allow_domain_literals, user@[127.N.1.7] goes straight to that address
  on the transport's port; without it the literal is refused at RCPT (550
  5.1.2) and goes to "rejected" at HTTP injection.
- spated refuses to start when a string option holds CR LF (file:line)."""

import os
import smtplib
import subprocess

import spatetest
from spatetest import Env, wait_for

TLD = spatetest.TLD
ULABEL = "b\u00fccher"          # bücher
ALABEL = "xn--bcher-kva"       # its A-label (RFC 5891)
BODY = b"Subject: holes\r\n\r\nbody\r\n"


def _utf8_send(env, sender, rcpt):
    """MAIL FROM with SMTPUTF8, one RCPT; returns (rcpt code, text, data code)."""
    host, port = spatetest.split_addr(env.smtp_addr)
    s = smtplib.SMTP(host, port, timeout=30)
    try:
        s.ehlo()
        assert s.has_extn("smtputf8"), "SMTPUTF8 not advertised"
        code, text = s.mail(sender, ["SMTPUTF8"])
        assert code == 250, (code, text)
        rcode, rtext = s.rcpt(rcpt)
        dcode = None
        if rcode == 250:
            dcode = s.data(BODY)[0]
        return rcode, rtext.decode("utf-8", "replace"), dcode
    finally:
        s.quit()


def _rcpt_reply(env, rcpt):
    """(code, text) of RCPT TO for rcpt after a plain MAIL FROM."""
    host, port = spatetest.split_addr(env.smtp_addr)
    s = smtplib.SMTP(host, port, timeout=30)
    try:
        s.ehlo()
        assert s.mail("s@sender.%s" % TLD)[0] == 250
        code, text = s.rcpt(rcpt)
        return code, text.decode("utf-8", "replace")
    finally:
        s.quit()


def test_ulabel_recipient_delivered_by_alabel():
    with Env("holes-idn") as env:
        dom = "%s.%s" % (ALABEL, TLD)
        env.start_dns(["%s. IN MX 10 mx.%s." % (dom, dom),
                       "mx.%s. IN A %s" % (dom, env.sink_ip(1))])
        sink = env.start_spate_sink(env.sink_addrs(1))
        env.start_spated(env.write_config())
        rcpt = "j\u00f6rg@%s.%s" % (ULABEL, TLD)
        code, text, dcode = _utf8_send(env, "s@sender.%s" % TLD, rcpt)
        assert code == 250, (code, text)
        assert dcode == 250, dcode
        (envelope, _), = sink.wait_messages(1)
        assert envelope["rcpt_to"] == [rcpt], envelope
        wait_for(lambda: env.log_grep(r" => .* H=mx\.%s\.%s " % (ALABEL, TLD)), 15,
                 what="delivery to mx.%s" % dom)
        # a label IDNA2008 refuses (a leading combining mark): 501 at RCPT
        code, text, _ = _utf8_send(env, "s@sender.%s" % TLD, "u@\u0301a.%s" % TLD)
        assert code == 501 and text.startswith("5.1.2"), (code, text)


def test_literal_delivered_with_allow_domain_literals():
    with Env("holes-lit") as env:
        ip = env.ip(1, 7)
        sink = env.start_spate_sink(["%s:%d" % (ip, spatetest.SINK_PORT)])
        env.start_spated(env.write_config(extra_main="allow_domain_literals = true"))
        rcpt = "u@[%s]" % ip
        code, text = spatetest.smtp_send(env.spated_ip, spatetest.SMTP_PORT,
                                         "s@sender.%s" % TLD, [rcpt], BODY)
        assert code == 250, (code, text)
        status, body = spatetest.http_inject(env.http_url, {
            "envelope_sender": "s@sender.%s" % TLD, "recipients": [rcpt],
            "content": BODY.decode()})
        assert status == 200 and body["accepted"] == 1 and body["rejected"] == [], body
        msgs = sink.wait_messages(2)
        assert [e["rcpt_to"] for e, _ in msgs] == [[rcpt], [rcpt]], msgs
        assert env.log_grep(r" => u@\[%s\] .*\[%s\]:%d" % (ip.replace(".", r"\."),
                                                          ip.replace(".", r"\."),
                                                          spatetest.SINK_PORT))


def test_literal_refused_without_allow_domain_literals():
    with Env("holes-nolit") as env:
        env.start_dns(env.mx_zone(1))
        sink = env.start_spate_sink(env.sink_addrs(1))
        env.start_spated(env.write_config())
        lit = "u@[%s]" % env.ip(1, 7)
        code, text = _rcpt_reply(env, lit)
        assert code == 550 and text.startswith("5.1.2 domain literals"), (code, text)
        code, text = _rcpt_reply(env, "u@[IPv6:::1]")
        assert code == 550, (code, text)
        good = "g@d1.%s" % TLD
        status, body = spatetest.http_inject(env.http_url, {
            "envelope_sender": "s@sender.%s" % TLD, "recipients": [lit, good],
            "content": BODY.decode()})
        assert status == 200, (status, body)
        assert body["accepted"] == 1 and len(body["ids"]) == 1, body
        assert body["rejected"] == [{"recipient": lit,
                                     "reason": "domain literals are not accepted"}], body
        status, body = spatetest.http_inject(env.http_url, {
            "envelope_sender": "s@sender.%s" % TLD, "recipients": [lit],
            "content": BODY.decode()})
        assert status == 200 and body["accepted"] == 0 and body["ids"] == [], body
        assert len(body["rejected"]) == 1, body
        (envelope, _), = sink.wait_messages(1)
        assert envelope["rcpt_to"] == [good], envelope


def test_crlf_in_primary_hostname_refused_at_start():
    with Env("holes-cfg") as env:
        path = env.write_config(extra_main='primary_hostname = "evil.example\\r\\n250-INJECTED"')
        with open(path) as f:
            lineno = 1 + f.read().split("\n").index(
                'primary_hostname = "evil.example\\r\\n250-INJECTED"')
        binary = os.path.join(spatetest.BUILD, "spated")
        p = subprocess.run([binary, "-c", path], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=20)
        out = p.stdout.decode("utf-8", "replace")
        assert p.returncode != 0, out
        assert "%s:%d:" % (path, lineno) in out and "control character" in out, out
        p = subprocess.run([binary, "-c", env.write_config(name="ok.conf"), "-o",
                            "primary_hostname=evil.example\r\n250-INJECTED"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=20)
        out = p.stdout.decode("utf-8", "replace")
        assert p.returncode != 0 and "-o primary_hostname:" in out, out


spatetest.main(globals())

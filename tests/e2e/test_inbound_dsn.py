"""test_inbound_dsn - the DSN parameters of RFC 3461 on spate's SMTP server:
offered per dsn_advertise_hosts, RET/ENVID on MAIL and NOTIFY/ORCPT on RCPT
accepted when well formed, and each malformed form refused with 501 and an
enhanced status code (bad xtext, NEVER with another value, a parameter
given twice, over-long values, a control character in ORCPT), or 555 when
DSN is not offered. PRDR's parameter is refused unless prdr_enable."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import spatetest  # noqa: E402
from spatetest_smtp import Client, greeted, start  # noqa: E402

D1 = "d1.%s" % spatetest.TLD


def test_dsn_parameters_accepted():
    env, sink, spated = start("dsn_ok", domains=1)
    with env:
        c = Client(env.smtp_addr)
        assert c.reply()[0] == 220
        assert "250-DSN" in c.expect("EHLO dsn.example", 250)
        c.expect("MAIL FROM:<a@example.org> RET=HDRS ENVID=QQ314159+2Bx", 250)
        c.expect("RCPT TO:<u@%s> NOTIFY=SUCCESS,FAILURE,DELAY "
                 "ORCPT=rfc822;orig+2Buser@example.net" % D1, 250)
        c.expect("RCPT TO:<v@%s> NOTIFY=NEVER" % D1, 250)
        c.expect("DATA", 354)
        c.send(b"Subject: dsn\r\n\r\nbody\r\n.\r\n")
        assert c.reply()[0] == 250
        c.expect("QUIT", 221)
        assert len(sink.wait_messages(1)) == 1


def test_dsn_parameters_refused():
    env, sink, spated = start("dsn_bad", "smtp_max_synprot_errors=0", domains=1)
    with env:
        c = greeted(env.smtp_addr)
        for line in ("MAIL FROM:<a@example.org> RET=ALL",
                     "MAIL FROM:<a@example.org> ENVID=bad+ZZxtext",
                     "MAIL FROM:<a@example.org> ENVID=" + "x" * 101,
                     "MAIL FROM:<a@example.org> RET=FULL RET=HDRS",
                     "MAIL FROM:<a@example.org> ENVID=a ENVID=b"):
            c.expect(line, 501, r"^501 5\.5\.4 ")
        c.expect("MAIL FROM:<a@example.org>", 250)
        for line in ("RCPT TO:<u@%s> NOTIFY=NEVER,SUCCESS" % D1,
                     "RCPT TO:<u@%s> NOTIFY=SOMETIMES" % D1,
                     "RCPT TO:<u@%s> NOTIFY=SUCCESS NOTIFY=FAILURE" % D1,
                     "RCPT TO:<u@%s> ORCPT=rfc822" % D1,
                     "RCPT TO:<u@%s> ORCPT=rfc822;bad+G0" % D1,
                     "RCPT TO:<u@%s> ORCPT=rfc822;ctl+0Achar" % D1,
                     "RCPT TO:<u@%s> ORCPT=rfc822;%s" % (D1, "y" * 500)):
            c.expect(line, 501, r"^501 5\.5\.4 ")
        c.expect("RCPT TO:<u@%s> NOTIFY=FAILURE ORCPT=rfc822;ok@example.net" % D1, 250)
        c.expect("QUIT", 221)


def test_dsn_not_offered():
    env, sink, spated = start("dsn_off", "dsn_advertise_hosts=", domains=1)
    with env:
        c = Client(env.smtp_addr)
        assert c.reply()[0] == 220
        assert not [l for l in c.expect("EHLO x.example", 250) if "DSN" in l]
        c.expect("MAIL FROM:<a@example.org> RET=FULL", 555, r"^555 5\.5\.4 ")
        c.expect("MAIL FROM:<a@example.org>", 250)
        c.expect("RCPT TO:<u@%s> NOTIFY=NEVER" % D1, 555, r"^555 5\.5\.4 ")
        c.expect("RCPT TO:<u@%s>" % D1, 250)


def test_prdr_parameter_needs_prdr_enable():
    env, sink, spated = start("dsn_prdr_off", domains=1)
    with env:
        c = Client(env.smtp_addr)
        assert c.reply()[0] == 220
        assert not [l for l in c.expect("EHLO x.example", 250) if "PRDR" in l]
        c.expect("MAIL FROM:<a@example.org> PRDR", 555, r"^555 5\.5\.4 ")


if __name__ == "__main__":
    spatetest.main(globals())

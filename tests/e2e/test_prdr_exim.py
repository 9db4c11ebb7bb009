"""test_prdr_exim - PRDR (seed "PRDR support", draft-hall-prdr-00) between
spate and a real Exim 4, both ways, one recipient of three refused after the
message by the receiver's acl_smtp_data_prdr.

Exim as client: the private Exim (EximClient: STARTTLS required, its
hosts_try_prdr left at the default *) relays one message for three
recipients to spated (prdr_enable = true); Exim's main log fails the refused
one with spated's 550 and delivers the other two; spated's "<=" line and the
sink behind it have the two only.

spate as client: spated (hosts_try_prdr left at its default *) delivers a
message for three recipients to an Exim daemon (start_exim_server) with
prdr_enable = true; spated's log has "=>" for two and "**" with Exim's 550
text for the third; Exim's log shows the PRDR replies and its "<=" line (PRDR
flag), and its mailbox holds one copy for each accepted recipient."""

import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import spatetest  # noqa: E402
from spatetest import Env, wait_for  # noqa: E402
import spatetest_peers  # noqa: E402

TLD = spatetest.TLD
D1 = "d1.%s" % TLD
SENDER = "prdr@sender.%s" % TLD  # no such domain: the bounces of the refusal go nowhere
RCPTS = ["a@%s" % D1, "refused@%s" % D1, "b@%s" % D1]
ACCEPTED = [RCPTS[0], RCPTS[2]]
REFUSAL = "no thanks, refused"
# the same PRDR ACL in both dialects (spate's follows Exim's)
PRDR_ACL = ("prdr:\n"
            "  deny local_parts = refused\n"
            "       message = " + REFUSAL + "\n"
            "  accept\n")
PRDR_MAIN = "prdr_enable = true\nacl_smtp_data_prdr = prdr\n"


def _message(subject):
    return ("From: <%s>\r\nTo: a, refused, b\r\nSubject: %s\r\n"
            "Date: Mon, 1 Jun 2026 10:00:00 +0000\r\nMessage-ID: <%s@prdr.%s>\r\n\r\n"
            "One message, three recipients, one refused after the data.\r\n"
            % (SENDER, subject, re.sub(r"\W", "", subject), TLD)).encode()


def _esc(addr):
    return re.escape(addr)


def _start_prdr_spated(name):
    """nsd (d1), a storing sink for d1 and spated with STARTTLS and PRDR (the
    ACL above); returns (env, sink, certs)."""
    env = Env(name)
    try:
        certs = env.make_certs(1)
        env.start_dns(env.mx_zone(1))
        sink = env.start_spate_sink(env.sink_addrs(1))
        main = "tls_certificate = %s\ntls_privatekey = %s\n%s" % (
            certs["right_chain"], certs["right_key"], PRDR_MAIN)
        env.start_spated(env.write_config(extra_main=main,
                                          retry="* * F,1h,1s\n\nbegin acl\n" + PRDR_ACL))
    except BaseException:
        env.close(failed=True)
        raise
    return env, sink, certs


def test_exim_client_to_spate_prdr_server():
    env, sink, certs = _start_prdr_spated("prdr-exim-client")
    with env:
        exim = spatetest_peers.EximClient(env, env.smtp_addr, certs["ca"])
        rc, out = exim.send(SENDER, RCPTS, _message("exim to spate"), chunking=False)
        assert rc == 0, (rc, out, exim.paniclog())
        # spated: the refusal logged, the message spooled for the two only
        assert env.log_grep(r"rejected by PRDR RCPT <%s>: %s" % (_esc(RCPTS[1]), REFUSAL)), \
            env.main_log()
        arrivals = env.log_grep(r" <= %s " % _esc(SENDER))
        assert len(arrivals) == 1, env.main_log()
        assert arrivals[0].endswith(" for %s %s" % tuple(ACCEPTED)), arrivals
        assert re.search(r" P=esmtps X=TLS1\.[23]:", arrivals[0]), arrivals
        spate_id = arrivals[0].split()[2]
        # Exim: the refused recipient failed with spated's PRDR reply; the other
        # two delivered (=> then ->, one transaction), each with its own PRDR
        # reply and the final one
        failed = exim.log_grep(r" \*\* %s " % _esc(RCPTS[1]))
        assert len(failed) == 1, exim.log()
        assert failed[0].endswith(": PRDR error after DATA: 550 5.7.1 " + REFUSAL), failed
        for rcpt in ACCEPTED:
            lines = exim.log_grep(r" [=-]> %s " % _esc(rcpt))
            assert len(lines) == 1, (rcpt, exim.log())
            assert " H=%s [%s]:%d " % (env.spated_ip, env.spated_ip, spatetest.SMTP_PORT) \
                in lines[0], lines
            assert ' CV=yes PRDR C="250 2.1.5 PRDR R=<%s> acceptance' % rcpt in lines[0], lines
            assert lines[0].endswith('250 2.0.0 OK id=%s"' % spate_id), lines
        # the sink behind spated: one message, for the two
        got = sink.wait_messages(1)
        assert len(got) == 1, [e for e, _ in got]
        assert got[0][0]["mail_from"] == SENDER and got[0][0]["rcpt_to"] == ACCEPTED, got[0][0]
        assert b"One message, three recipients" in got[0][1]


def test_spate_client_to_exim_prdr_server():
    with Env("prdr-exim-server") as env:
        env.start_dns(env.mx_zone(1))
        exim = spatetest_peers.start_exim_server(env, env.sink_addrs(1)[0], [D1],
                                                 acls=PRDR_ACL, main=PRDR_MAIN)
        env.start_spated(env.write_config())
        code, text = spatetest.smtp_send(env.spated_ip, spatetest.SMTP_PORT, SENDER, RCPTS,
                                         _message("spate to exim"))
        assert code == 250, (code, text)
        # spated: one outcome per recipient, each from Exim's own PRDR reply
        wait_for(lambda: len(env.log_grep(r" (=>|\*\*|==) \S+@%s" % _esc(D1))) >= 3, 30,
                 what="3 outcomes; log tail:\n%s" % "\n".join(env.main_log()[-10:]))
        for rcpt in ACCEPTED:
            lines = env.log_grep(r" => %s " % _esc(rcpt))
            assert len(lines) == 1, (rcpt, env.main_log())
            assert 'C="250 PRDR R=<%s> acceptance"' % rcpt in lines[0], lines
        failed = env.log_grep(r" \*\* %s " % _esc(RCPTS[1]))
        assert len(failed) == 1, env.main_log()
        assert " H=mx.%s [%s]:%d:" % (D1, env.sink_ip(1), spatetest.SINK_PORT) in failed[0] \
            and failed[0].endswith(" after end of data: 550 " + REFUSAL), failed
        assert not env.log_grep(r" == \S+@%s" % _esc(D1)), env.main_log()
        # Exim: the PRDR replies, the "<=" line with its PRDR flag, two copies delivered
        for rcpt in ACCEPTED:
            assert len(exim.log_grep(r" PRDR R=<%s> acceptance$" % _esc(rcpt))) == 1, exim.log()
        assert exim.log_grep(r" PRDR %s %s$" % (_esc(RCPTS[1]), REFUSAL)), exim.log()
        # Exim's "<=" line names the recipients of the RCPT commands, all three;
        # what the PRDR ACL refused is left out of the deliveries
        arrival = exim.wait_log(r" <= %s H=\(spate\.%s\) \[[0-9.]+\] P=esmtp PRDR " % (
            _esc(SENDER), _esc(TLD)))
        assert len(arrival) == 1 and arrival[0].endswith(" for " + " ".join(RCPTS)), arrival
        delivered = exim.wait_log(r" => \S+ <\S+> R=local T=inbox$", 2)
        assert sorted(re.search(r"<(\S+)>", l).group(1) for l in delivered) == ACCEPTED, \
            exim.log()
        assert sorted(to for to, _ in exim.inbox()) == ACCEPTED, exim.inbox()
        assert all(b"One message, three recipients" in m for _, m in exim.inbox())


spatetest.main(globals())

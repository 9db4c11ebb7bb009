"""test_inbound_dmarc - DMARC (RFC 7489, seed "DMARC Support") on spate's
SMTP server: nsd serves SPF records naming 127.N.0.77 and _dmarc records
for domains under the test TLD (not in the public suffix list: the
Organizational Domain is the last two labels); clients connect from
127.N.0.77 (SPF pass) or 127.N.0.78 (SPF fail), loopback getting no free
pass. The seed's example DATA ACL refuses a "reject", adds $dmarc_ar_header
to accepted mail; dmarc_history_file gets one entry per message with a
record; a failure report goes to the ruf= address only where the RCPT ACL
set control = dmarc_enable_forensic; dmarc_disable_verify makes it "off"."""

import os
import smtplib
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import spatetest  # noqa: E402
from spatetest import Env  # noqa: E402

TLD = spatetest.TLD
D1 = "d1.%s" % TLD

# the seed's example ACLs, with its pseudo-lookups and typo made concrete
ACL = ("rcpt:\n"
       "  warn hosts = 127.%(net)d.0.79\n"
       "       control = dmarc_disable_verify\n"
       "  warn senders = *@fq.%(tld)s\n"
       "       control = dmarc_enable_forensic\n"
       "  warn condition = ${if eq{$local_part}{list}}\n"
       "       set acl_m_mailing_list = 1\n"
       "  accept\n"
       "data:\n"
       "  warn dmarc_status = accept : none : off\n"
       "       !authenticated = *\n"
       "       log_message = DMARC DEBUG: $dmarc_status $dmarc_used_domain\n"
       "       add_header = $dmarc_ar_header\n"
       "  warn dmarc_status = !accept\n"
       "       !authenticated = *\n"
       "       log_message = DMARC DEBUG: '$dmarc_status' for $dmarc_used_domain\n"
       "  warn dmarc_status = quarantine\n"
       "       !authenticated = *\n"
       "       set acl_m_quarantine = 1\n"
       "       add_header = X-Quarantine: $dmarc_status_text $dmarc_domain_policy\n"
       "  deny condition = ${if eq{$dmarc_domain_policy}{reject}}\n"
       "       condition = ${if eq{$acl_m_mailing_list}{1}}\n"
       "       message = Messages from $dmarc_used_domain break mailing lists\n"
       "  deny dmarc_status = reject\n"
       "       !authenticated = *\n"
       "       message = Message from $dmarc_used_domain failed sender's DMARC policy, REJECT\n"
       "  warn logwrite = dmarc $dmarc_status for $sender_address\n"
       "  accept\n")


def start(name):
    env = Env(name)
    try:
        good = "127.%d.0.77" % env.net
        spf = 'IN TXT "v=spf1 ip4:%s ip4:127.%d.0.79 -all"' % (good, env.net)
        recs = env.mx_zone(1)
        for d, pol in (("rj", "reject"), ("q", "quarantine"), ("fq", "quarantine")):
            recs.append("%s.%s. %s" % (d, TLD, spf))
            recs.append('_dmarc.%s.%s. IN TXT "v=DMARC1; p=%s; ruf=mailto:ruf@%s"' % (
                d, TLD, pol, D1))
        env.start_dns(recs)
        sink = env.start_spate_sink(env.sink_addrs(1))
        main = ("acl_smtp_rcpt = rcpt\nacl_smtp_data = data\n"
                "dmarc_history_file = %s\n"
                "dmarc_forensic_sender = dmarc-noreply@%s\n" % (env.path("dmarc.hist"), D1))
        conf = env.write_config(extra_main=main,
                                retry="* * F,1h,1s\n\nbegin acl\n" +
                                ACL % {"net": env.net, "tld": TLD} + "\n")
        env.start_spated(conf)
    except BaseException:
        env.close(failed=True)
        raise
    return env, sink


def client(env, last):
    host, port = spatetest.split_addr(env.smtp_addr)
    s = smtplib.SMTP(host, port, timeout=20, source_address=("127.%d.0.%d" % (env.net, last), 0))
    s.ehlo("client.example")
    return s


def send(env, last, domain, rcpt="user"):
    """One message from x@domain (envelope and From:); (code, text) of DATA."""
    s = client(env, last)
    s.mail("x@%s.%s" % (domain, TLD))
    assert s.rcpt("%s@%s" % (rcpt, D1))[0] == 250
    msg = ("From: X <x@%s.%s>\r\nTo: %s@%s\r\nSubject: dmarc\r\n\r\nbody\r\n" % (
        domain, TLD, rcpt, D1)).encode()
    code, text = s.data(msg)
    s.quit()
    return code, text.decode()


def history(env):
    try:
        with open(env.path("dmarc.hist")) as f:
            return f.read()
    except FileNotFoundError:
        return ""


def test_reject_policy_refuses_failing_message():
    env, sink = start("dmarc_reject")
    with env:
        code, text = send(env, 78, "rj")
        assert code == 550, (code, text)
        assert "failed sender's DMARC policy, REJECT" in text, text
        assert env.log_grep(r"DMARC: reject \(policy reject\) for rj\.")
        h = history(env)
        assert "\nfrom rj.%s\n" % TLD in h and "pdomain rj.%s\n" % TLD in h, h
        assert "ipaddr 127.%d.0.78\n" % env.net in h, h


def test_pass_gets_ar_header_and_history():
    env, sink = start("dmarc_pass")
    with env:
        code, _ = send(env, 77, "rj")
        assert code == 250
        body = sink.wait_messages(1)[0][1]
        assert b"\r\nAuthentication-Results: " in body, body
        assert ("dmarc=pass").encode() in body and ("header.from=rj.%s" % TLD).encode() in body, body
        assert env.log_grep(r"dmarc accept for x@rj\.")
        assert history(env).count("job ") == 1


def test_mailing_list_rule_and_disable_control():
    env, sink = start("dmarc_list")
    with env:
        code, text = send(env, 77, "rj", rcpt="list")
        assert code == 550 and "break mailing lists" in text, (code, text)
        # dmarc_disable_verify in the RCPT ACL: "off", no history, accepted
        code, _ = send(env, 79, "rj")
        assert code == 250
        assert env.log_grep(r"dmarc off for x@rj\.")
        assert history(env).count("job ") == 1, history(env)


def test_forensic_report_only_when_enabled():
    env, sink = start("dmarc_ruf")
    with env:
        assert send(env, 78, "q")[0] == 250    # quarantine, no control: no report
        assert send(env, 78, "fq")[0] == 250   # quarantine, forensic enabled
        assert send(env, 77, "fq")[0] == 250   # passes: no report
        msgs = sink.wait_messages(4)
        time.sleep(2)
        msgs = sink.messages()
        reports = [(e, b) for e, b in msgs if b"feedback-report" in b]
        assert len(reports) == 1, [e for e, b in msgs]
        env_, body = reports[0]
        assert "ruf@%s" % D1 in str(env_), env_
        assert "dmarc-noreply@%s" % D1 in str(env_), env_
        assert b"Feedback-Type: auth-failure" in body and b"Auth-Failure: dmarc" in body, body
        assert ("Reported-Domain: fq.%s" % TLD).encode() in body, body
        assert b"Content-Type: text/rfc822-headers" in body, body
        assert b"X-Quarantine: Quarantine quarantine" in [b for e, b in msgs
                                                           if b"X-Quarantine" in b][0]
        assert env.log_grep(r"DMARC failure report for")


if __name__ == "__main__":
    spatetest.main(globals())

"""test_inbound_spf - SPF (RFC 7208, seed "SPF") on spate's SMTP server:
nsd serves SPF records naming 127.N.0.77 (allowed) and not 127.N.0.78;
clients connect from those loopback source addresses (loopback gets no free
pass), the RCPT ACL denies "spf = fail" with the domain's explanation and
adds $spf_received to accepted mail; the result reaches the log."""

import os
import smtplib
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import spatetest  # noqa: E402
from spatetest import Env  # noqa: E402

TLD = spatetest.TLD
D1 = "d1.%s" % TLD

ACL = ("r:\n"
       "  deny spf = fail\n"
       "       message = SPF says no: $spf_smtp_comment\n"
       "  defer spf = temperror\n"
       "  warn add_header = $spf_received\n"
       "  warn logwrite = spf result $spf_result for $sender_address\n"
       "  accept\n")


def start(name):
    env = Env(name)
    try:
        good, bad = "127.%d.0.77" % env.net, "127.%d.0.78" % env.net
        recs = env.mx_zone(1) + [
            'spf.%s. IN TXT "v=spf1 ip4:%s a:host.spf.%s -all" " exp=why.spf.%s"' % (
                TLD, good, TLD, TLD),
            "host.spf.%s. IN A 192.0.2.1" % TLD,
            'why.spf.%s. IN TXT "%%{i} may not send for %%{d}"' % TLD,
            'soft.%s. IN TXT "v=spf1 include:spf.%s ~all"' % (TLD, TLD),
        ]
        env.start_dns(recs)
        sink = env.start_spate_sink(env.sink_addrs(1))
        conf = env.write_config(extra_main="acl_smtp_rcpt = r",
                                retry="* * F,1h,1s\n\nbegin acl\n" + ACL + "\n")
        env.start_spated(conf)
    except BaseException:
        env.close(failed=True)
        raise
    return env, sink, good, bad


def client(env, source):
    host, port = spatetest.split_addr(env.smtp_addr)
    s = smtplib.SMTP(host, port, timeout=20, source_address=(source, 0))
    s.ehlo("client.example")
    return s


def test_fail_from_loopback_is_denied():
    env, sink, good, bad = start("spf_fail")
    with env:
        s = client(env, bad)
        s.mail("someone@spf.%s" % TLD)
        code, text = s.rcpt("user@%s" % D1)
        text = text.decode()
        assert code == 550, (code, text)
        assert "SPF says no: %s may not send for spf.%s" % (bad, TLD) in text, text
        s.quit()
        assert env.log_grep(r"SPF fail")


def test_pass_gets_received_spf():
    env, sink, good, bad = start("spf_pass")
    with env:
        s = client(env, good)
        s.mail("someone@spf.%s" % TLD)
        assert s.rcpt("user@%s" % D1)[0] == 250
        s.data(b"Subject: spf\r\n\r\nbody\r\n")
        s.quit()
        body = sink.wait_messages(1)[0][1]
        assert b"\r\nReceived-SPF: pass (" in body, body
        assert ("client-ip=%s;" % good).encode() in body, body
        assert b"identity=mailfrom;" in body, body
        assert env.log_grep(r"spf result pass for someone@spf\.")


def test_softfail_and_none_are_accepted():
    env, sink, good, bad = start("spf_soft")
    with env:
        s = client(env, bad)
        s.mail("x@soft.%s" % TLD)
        assert s.rcpt("user@%s" % D1)[0] == 250
        s.rset()
        s.mail("x@norecord.%s" % TLD)
        assert s.rcpt("user@%s" % D1)[0] == 250
        s.quit()
        assert env.log_grep(r"spf result softfail for x@soft\.")
        assert env.log_grep(r"spf result none for x@norecord\.")


def test_spf_lookup_in_expansions():
    """${lookup{user@domain}spf{ip}}: the result word (spated -be)."""
    env, sink, good, bad = start("spf_lookup")
    with env:
        def be(ip, sender="someone@spf.%s" % TLD):
            p = subprocess.run([os.path.join(spatetest.BUILD, "spated"), "-c",
                                env.spated.config, "-be",
                                "${lookup{%s}spf{%s}}" % (sender, ip)],
                               capture_output=True, text=True, timeout=30)
            return p.stdout.strip()
        assert be(good) == "pass"
        assert be(bad) == "fail"
        assert be(bad, "x@soft.%s" % TLD) == "softfail"
        assert be(good, "x@nospf.%s" % TLD) == "none"
        assert be("not-an-ip").startswith("Failed:")


if __name__ == "__main__":
    spatetest.main(globals())

"""test_inbound_prdr - PRDR on spate's SMTP server (seed "PRDR support"):
swaks --prdr with three recipients and an acl_smtp_data_prdr that refuses
one gets 353, two 250s and a 550, and the message reaches the two only; a
temporary refusal; every recipient refused; a single recipient and a
client that did not ask skip PRDR; BDAT with PRDR; $prdr_requested."""

import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import spatetest  # noqa: E402
from test_inbound_acl import start  # noqa: E402  (nsd, sink, spated with begin acl)
from spatetest import Env, wait_for  # noqa: E402
from spatetest_smtp import Client  # noqa: E402

D1 = "d1.%s" % spatetest.TLD
ACL = ("prdr:\n"
       "  deny local_parts = refused\n"
       "       message = no thanks, $local_part\n"
       "  defer local_parts = later\n"
       "  accept\n"
       "data:\n"
       "  accept add_header = X-PRDR: $prdr_requested\n")
MAIN = "prdr_enable = true\nacl_smtp_data_prdr = prdr\nacl_smtp_data = data"


def session(env, rcpts, prdr=True, bdat=False):
    """A raw client: MAIL (PRDR), RCPTs, the text; returns every reply after the text."""
    c = Client(env.smtp_addr)
    assert c.reply()[0] == 220
    lines = c.expect("EHLO prdr.example", 250)
    assert "250-PRDR" in lines, lines
    c.expect("MAIL FROM:<s@example.org>%s" % (" PRDR" if prdr else ""), 250)
    for r in rcpts:
        c.expect("RCPT TO:<%s@%s>" % (r, D1), 250)
    body = b"Subject: prdr\r\n\r\nbody\r\n"
    if bdat:
        c.send(b"BDAT %d LAST\r\n" % len(body) + body)
    else:
        c.expect("DATA", 354)
        c.send(body + b".\r\n")
    first = c.reply()
    if first[0] != 353:
        return c, [first]
    replies = [first] + [c.reply() for _ in range(len(rcpts) + 1)]
    return c, replies


def delivered(sink, n):
    msgs = sink.wait_messages(n)
    time.sleep(0.3)
    return sorted(r for e, _ in sink.messages() for r in e["rcpt_to"]), msgs


def test_swaks_prdr_refuses_one():
    env, sink, spated = start("prdr_swaks", MAIN, ACL)
    with env:
        host, port = spatetest.split_addr(env.smtp_addr)
        p = subprocess.run(["swaks", "--server", host, "--port", str(port), "--prdr",
                            "--from", "s@example.org", "--to",
                            "a@%s,refused@%s,b@%s" % (D1, D1, D1), "--timeout", "10"],
                           capture_output=True, text=True, timeout=30)
        out = p.stdout + p.stderr
        assert re.search(r"<-\s+353 ", out), out
        assert re.search(r"<-\s+250 2\.1\.5 PRDR R=<a@", out), out
        assert re.search(r"<\*\*\s+550 5\.7\.1 no thanks, refused", out), out
        assert re.search(r"<-\s+250 2\.1\.5 PRDR R=<b@", out), out
        assert re.search(r"<-\s+250 2\.0\.0 OK id=", out), out
        rcpts, msgs = delivered(sink, 1)
        assert rcpts == ["a@%s" % D1, "b@%s" % D1], rcpts
        assert b"\r\nX-PRDR: yes\r\n" in msgs[0][1]
        assert env.log_grep(r"rejected by PRDR RCPT <refused@%s>: no thanks, refused" %
                            D1.replace(".", r"\."))
        assert env.log_grep(r"<= s@example\.org .* for a@%s b@%s$" % (D1.replace(".", r"\."),
                                                                     D1.replace(".", r"\.")))


def test_temporary_refusal_and_all_refused():
    env, sink, spated = start("prdr_all", MAIN, ACL)
    with env:
        c, replies = session(env, ["later", "ok"])
        codes = [r[0] for r in replies]
        assert codes == [353, 450, 250, 250], replies
        assert replies[1][1][0].startswith("450 4.7.1 PRDR R=<later@"), replies
        c.expect("QUIT", 221)
        c, replies = session(env, ["refused", "refused"])
        assert [r[0] for r in replies] == [353, 550, 550, 550], replies
        assert "refused for all recipients" in replies[-1][1][0], replies
        c.expect("QUIT", 221)
        rcpts, _ = delivered(sink, 1)
        assert rcpts == ["ok@%s" % D1], rcpts


def test_single_recipient_and_no_prdr_skip_it():
    env, sink, spated = start("prdr_skip", MAIN, ACL)
    with env:
        c, replies = session(env, ["refused"])  # one recipient: no PRDR, no PRDR ACL
        assert [r[0] for r in replies] == [250], replies
        c.expect("QUIT", 221)
        c, replies = session(env, ["refused", "x"], prdr=False)
        assert [r[0] for r in replies] == [250], replies
        c.expect("QUIT", 221)
        rcpts, msgs = delivered(sink, 2)
        assert rcpts == sorted(["refused@%s" % D1, "refused@%s" % D1, "x@%s" % D1]), rcpts
        asked = [m for e, m in msgs if len(e["rcpt_to"]) == 1]  # $prdr_requested: it asked
        assert asked and b"\r\nX-PRDR: yes\r\n" in asked[0], msgs


def test_prdr_after_bdat():
    env, sink, spated = start("prdr_bdat", MAIN, ACL)
    with env:
        c, replies = session(env, ["refused", "y"], bdat=True)
        assert [r[0] for r in replies] == [353, 550, 250, 250], replies
        c.expect("QUIT", 221)
        rcpts, _ = delivered(sink, 1)
        assert rcpts == ["y@%s" % D1], rcpts


def test_spate_to_spate_prdr_and_dsn_parameters():
    """spated A delivers to spated B, B's PRDR refusing one recipient: A logs
    one => per accepted recipient and ** for the refused one; B receives
    the DSN parameters A got from its client, unchanged."""
    env = Env("prdr_s2s")
    with env:
        env.start_dns(env.mx_zone(1))
        b_addr = env.sink_addrs(1)[0]
        sink_addr = "%s:%d" % (env.sink_ip(2), spatetest.SINK_PORT)
        sink = env.start_spate_sink([sink_addr])  # where B delivers
        b_dir = env.path("b")
        os.makedirs(b_dir)
        b_conf = os.path.join(b_dir, "b.conf")
        with open(b_conf, "w") as f:
            f.write("primary_hostname = b.%s\nspool_directory = %s/spool\n"
                    "log_file_path = %s/main.log\nsmtp_listen = %s\nhttp_listen = %s:8026\n"
                    "relay_from_hosts = 127.0.0.0/8\n%s\n"
                    "begin routers\nr:\n  driver = manualroute\n  route_list = * %s\n"
                    "  transport = t\nbegin transports\nt:\n  driver = smtp\n  port = %d\n"
                    "begin acl\n%s" % (spatetest.TLD, b_dir, b_dir, b_addr, env.sink_ip(1),
                                       MAIN, env.sink_ip(2), spatetest.SINK_PORT, ACL))
        b = env._start("spated-b", [os.path.join(spatetest.BUILD, "spated"), "-c", b_conf],
                       spatetest.Spated)
        wait_for(lambda: spatetest.is_listening(b_addr), 20, what="spated B")
        env.start_spated(env.write_config())
        c = Client(env.smtp_addr)
        assert c.reply()[0] == 220
        c.expect("EHLO a.example", 250)
        c.expect("MAIL FROM:<s@example.org> RET=HDRS ENVID=id+2B1", 250)
        for r in ("a", "refused", "b"):
            c.expect("RCPT TO:<%s@%s> NOTIFY=FAILURE ORCPT=rfc822;x+2B%s@example.net" %
                     (r, D1, r), 250)
        c.expect("DATA", 354)
        c.send(b"Subject: s2s\r\n\r\nbody\r\n.\r\n")
        assert c.reply()[0] == 250
        c.expect("QUIT", 221)
        esc = D1.replace(".", r"\.")
        wait_for(lambda: len(env.log_grep(r" (=>|\*\*) ")) >= 3, 20, what="3 outcomes")
        assert env.log_grep(r" => a@%s " % esc) and env.log_grep(r" => b@%s " % esc)
        assert env.log_grep(r" \*\* refused@%s .*550 5\.7\.1 no thanks, refused" % esc)
        with open(os.path.join(b_dir, "main.log")) as f:
            blog = f.read()
        assert re.search(r"<= s@example\.org .* for a@%s b@%s\n" % (esc, esc), blog), blog
        assert "rejected by PRDR RCPT <refused@" in blog, blog
        env_b, _ = sink.wait_messages(1)[0]  # B passed the DSN request on unchanged
        assert env_b["rcpt_to"] == ["a@%s" % D1, "b@%s" % D1], env_b
        assert "RET=HDRS" in env_b["mail_params"] and "ENVID=id+2B1" in env_b["mail_params"]
        assert env_b["rcpt_params"] == ["NOTIFY=FAILURE ORCPT=rfc822;x+2B%s@example.net" % r
                                        for r in ("a", "b")], env_b


if __name__ == "__main__":
    spatetest.main(globals())

"""test_inbound_acl - the ACLs of spate's SMTP server, driven by real
clients (swaks, Python's smtplib, a raw socket) against a running spated
that delivers to a spate-sink: every verb, condition and modifier, each its
own test, checking the reply codes and texts, the log lines and the headers
of the delivered message; the relay policy with and without an ACL; the
early-talker check behind a connect ACL's delay; a syntax error's file and
line; a reload that compiles the ACLs again."""

import os
import signal
import smtplib
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import spatetest  # noqa: E402
from spatetest import Env, strip_trace_headers, wait_for  # noqa: E402
from spatetest_smtp import Client, greeted  # noqa: E402

D1 = "d1.%s" % spatetest.TLD
NX = "nx.%s" % spatetest.TLD


def start(name, main, acls, *overrides):
    """nsd (d1), a storing sink and spated with main options and a begin acl section."""
    env = Env(name)
    try:
        env.start_dns(env.mx_zone(1))
        sink = env.start_spate_sink(env.sink_addrs(1))
        conf = env.write_config(extra_main=main,
                                retry="* * F,1h,1s\n\nbegin acl\n" + acls + "\n")
        args = []
        for o in overrides:
            args += ["-o", o]
        spated = env.start_spated(conf, extra_args=args)
    except BaseException:
        env.close(failed=True)
        raise
    return env, sink, spated


def smtp(env):
    host, port = spatetest.split_addr(env.smtp_addr)
    s = smtplib.SMTP(host, port, timeout=10)
    s.ehlo("client.example")
    return s


def rcpt(s, addr):
    """(code, text) of RCPT TO for an open transaction."""
    code, text = s.rcpt(addr)
    return code, text.decode()


def swaks(env, *args):
    host, port = spatetest.split_addr(env.smtp_addr)
    p = subprocess.run(["swaks", "--server", host, "--port", str(port), "--helo",
                        "client.example", "--timeout", "10"] + list(args),
                       capture_output=True, text=True, timeout=30)
    return p.returncode, p.stdout + p.stderr


def test_deny_with_message_and_log():
    env, sink, spated = start("acl_deny", "acl_smtp_rcpt = check_rcpt",
                              "check_rcpt:\n"
                              "  deny local_parts = blocked : *-spam\n"
                              "       message = no mail for $local_part here\n"
                              "       log_message = blocked local part $local_part\n"
                              "  accept\n")
    with env:
        s = smtp(env)
        s.mail("a@example.org")
        code, text = rcpt(s, "blocked@%s" % D1)
        assert code == 550 and text.startswith("5.7.1 no mail for blocked here"), (code, text)
        assert rcpt(s, "x-spam@%s" % D1)[0] == 550
        assert rcpt(s, "fine@%s" % D1)[0] == 250
        s.data(b"Subject: t\r\n\r\nbody\r\n")
        s.quit()
        assert env.log_grep(r"F=<a@example\.org> rejected RCPT <blocked@%s>: blocked local part "
                            r"blocked" % D1.replace(".", r"\."))
        assert [m[0]["rcpt_to"] for m in sink.wait_messages(1)] == [["fine@%s" % D1]]


def test_defer_is_temporary():
    env, sink, spated = start("acl_defer", "acl_smtp_rcpt = r",
                              "r:\n  defer domains = %s\n        message = come back later\n"
                              "  accept\n" % D1)
    with env:
        s = smtp(env)
        s.mail("a@example.org")
        code, text = rcpt(s, "u@%s" % D1)
        assert code == 450 and text == "4.7.1 come back later", (code, text)
        s.quit()
        assert env.log_grep(r"temporarily rejected RCPT <u@%s>: come back later" %
                            D1.replace(".", r"\."))


def test_drop_closes_the_connection():
    env, sink, spated = start("acl_drop", "acl_smtp_mail = m",
                              "m:\n  drop senders = *@spammer.example\n"
                              "       message = go away\n  accept\n")
    with env:
        c = greeted(env.smtp_addr)
        c.expect("MAIL FROM:<x@spammer.example>", 550, r"^550 5\.7\.1 go away$")
        code, lines = c.reply()
        assert code == 421, lines
        assert c.at_eof()
        assert env.log_grep(r"dropped: dropped by ACL")


def test_discard_accepts_and_drops_the_recipient():
    env, sink, spated = start("acl_discard", "acl_smtp_rcpt = r",
                              "r:\n  discard recipients = trap@%s\n"
                              "          log_message = spam trap\n  accept\n" % D1)
    with env:
        s = smtp(env)
        s.sendmail("a@example.org", ["trap@%s" % D1, "real@%s" % D1],
                   b"Subject: t\r\n\r\nbody\r\n")
        s.quit()
        msgs = sink.wait_messages(1)
        time.sleep(0.3)
        assert [m[0]["rcpt_to"] for m in sink.messages()] == [["real@%s" % D1]], msgs
        assert env.log_grep(r"RCPT <trap@%s> discarded by ACL" % D1.replace(".", r"\."))


def test_warn_logwrite_and_add_header():
    env, sink, spated = start("acl_warn", "acl_smtp_rcpt = r\nacl_smtp_data = d",
                              "r:\n  warn logwrite = rcpt ACL saw $local_part at $domain\n"
                              "  warn add_header = X-Rcpt-Seen: $local_part\n"
                              "  accept\n"
                              "d:\n  warn log_message = data size $message_size\n"
                              "  accept add_header = X-Data-Checked: yes\n")
    with env:
        code, out = swaks(env, "--from", "a@example.org", "--to", "who@%s" % D1,
                          "--header", "Subject: warn")
        assert code == 0, out
        body = sink.wait_messages(1)[0][1]
        assert b"\r\nX-Rcpt-Seen: who\r\n" in body, body
        assert b"\r\nX-Data-Checked: yes\r\n" in body, body
        head = body.split(b"\r\n\r\n", 1)[0]
        assert head.index(b"Subject: warn") < head.index(b"X-Rcpt-Seen"), head  # at the end
        assert env.log_grep(r"rcpt ACL saw who at %s" % D1.replace(".", r"\."))
        assert env.log_grep(r"data size \d+")


def test_remove_header():
    env, sink, spated = start("acl_remove", "acl_smtp_data = d",
                              "d:\n  accept remove_header = X-Internal : X-Secret\n")
    with env:
        s = smtp(env)
        s.sendmail("a@example.org", ["u@%s" % D1],
                   b"Subject: r\r\nX-Internal: one\r\n\tcontinued\r\nX-Keep: yes\r\n"
                   b"x-secret: two\r\n\r\nX-Internal: in the body stays\r\n")
        s.quit()
        body = sink.wait_messages(1)[0][1]
        head, text = body.split(b"\r\n\r\n", 1)
        assert b"X-Internal" not in head and b"x-secret" not in head and b"continued" not in head
        assert b"X-Keep: yes" in head
        assert text == b"X-Internal: in the body stays\r\n", text


def test_require_verify_recipient():
    env, sink, spated = start("acl_verify", "acl_smtp_rcpt = r",
                              "r:\n  require verify = recipient\n  accept\n")
    with env:
        s = smtp(env)
        s.mail("a@example.org")
        code, text = rcpt(s, "u@%s" % NX)
        assert code == 550 and "Unrouteable address" in text, (code, text)
        assert rcpt(s, "u@%s" % D1)[0] == 250
        s.quit()
        assert env.log_grep(r"rejected RCPT <u@%s>: Unrouteable address" % NX.replace(".", r"\."))


def test_verify_sender():
    env, sink, spated = start("acl_vsender", "acl_smtp_mail = m",
                              "m:\n  deny !verify = sender\n"
                              "       message = sender rejected: $acl_verify_message\n"
                              "  accept\n")
    with env:
        c = greeted(env.smtp_addr)
        c.expect("MAIL FROM:<x@%s>" % NX, 550, r"sender rejected: Unrouteable address")
        c.expect("MAIL FROM:<>", 250)  # the null sender always verifies
        c.expect("RSET", 250)
        c.expect("MAIL FROM:<x@%s>" % D1, 250)


def test_conditions_hosts_domains_senders_condition():
    env, sink, spated = start(
        "acl_conds",
        "domainlist local_domains = %s\nacl_smtp_rcpt = r" % D1,
        "r:\n"
        "  deny hosts = 127.0.0.0/8\n"
        "       senders = *@bad.example : evil@*\n"
        "       message = bad sender from loopback\n"
        "  deny !domains = +local_domains\n"
        "       message = not a local domain\n"
        "  deny condition = ${if eq{$sender_helo_name}{liar.example}}\n"
        "       message = bad helo\n"
        "  deny authenticated = *\n"
        "       message = authenticated is false here\n"
        "  accept\n")
    with env:
        s = smtp(env)
        s.mail("x@bad.example")
        assert rcpt(s, "u@%s" % D1) == (550, "5.7.1 bad sender from loopback")
        s.rset()
        s.mail("evil@anywhere.example")
        assert rcpt(s, "u@%s" % D1)[0] == 550
        s.rset()
        s.mail("good@example.org")
        assert rcpt(s, "u@other.example") == (550, "5.7.1 not a local domain")
        assert rcpt(s, "u@%s" % D1)[0] == 250
        s.quit()
        host, port = spatetest.split_addr(env.smtp_addr)
        s = smtplib.SMTP(host, port, timeout=10)
        s.ehlo("liar.example")
        s.mail("good@example.org")
        assert rcpt(s, "u@%s" % D1) == (550, "5.7.1 bad helo")
        s.quit()


def test_named_lists_and_lookups():
    blocked = os.path.join(tempfile.mkdtemp(prefix="spate-acl-lists-"), "blocked-senders")
    with open(blocked, "w") as f:
        f.write("# senders refused\nspam@example.org: listed 2026\nworse@example.org\n")
    env, sink, spated = start(
        "acl_lists",
        "hostlist trusted = <; 192.0.2.0/24 ; 127.0.0.0/8\n"
        "addresslist refused = lsearch;%s : *@junk.example\n"
        "localpartlist roles = postmaster : abuse : *-admin\nacl_smtp_rcpt = r" % blocked,
        "r:\n  accept local_parts = +roles\n"
        "  deny senders = +refused\n       message = sender on the list\n"
        "  deny !hosts = +trusted\n       message = not trusted\n"
        "  deny hosts = @[]\n       message = connected to itself\n"
        "  accept\n")
    with env:
        s = smtp(env)
        for sender, code in (("spam@example.org", 550), ("worse@example.org", 550),
                             ("x@junk.example", 550), ("ok@example.org", 250)):
            s.mail(sender)
            got = rcpt(s, "u@%s" % D1)
            assert got[0] == code, (sender, got)
            assert code != 550 or got[1] == "5.7.1 sender on the list", got
            s.rset()
        s.mail("spam@example.org")
        assert rcpt(s, "postmaster@%s" % D1)[0] == 250  # roles are accepted first
        assert rcpt(s, "web-admin@%s" % D1)[0] == 250
        s.quit()


def test_control_no_pipelining():
    env, sink, spated = start("acl_control", "acl_smtp_helo = h",
                              "h:\n  accept hosts = 127.0.0.1\n         control = no_pipelining\n"
                              "  accept\n")
    with env:
        c = Client(env.smtp_addr)
        assert c.reply()[0] == 220
        lines = c.expect("EHLO c.example", 250)
        assert not [l for l in lines if "PIPELINING" in l], lines
        # without PIPELINING every command must wait for its reply
        c.send("MAIL FROM:<a@example.org>\r\nRCPT TO:<u@%s>\r\n" % D1)
        code, lines = c.reply()
        assert code == 554 and "synchronization" in lines[0], lines
        c = Client(env.smtp_addr, source="127.0.0.3")  # the control is per client
        assert c.reply()[0] == 220
        assert [l for l in c.expect("EHLO c.example", 250) if "PIPELINING" in l]


def test_nested_acl_and_arguments():
    env, sink, spated = start("acl_nested", "acl_smtp_rcpt = r",
                              "r:\n  deny acl = is_vip $local_part\n"
                              "       message = vip list refuses $local_part\n"
                              "  accept\n"
                              "is_vip:\n  accept condition = ${if eq{$acl_arg1}{boss}}\n"
                              "  deny\n")
    with env:
        s = smtp(env)
        s.mail("a@example.org")
        assert rcpt(s, "boss@%s" % D1) == (550, "5.7.1 vip list refuses boss")
        assert rcpt(s, "staff@%s" % D1)[0] == 250
        s.quit()


def test_set_connection_and_message_variables():
    env, sink, spated = start("acl_set", "acl_smtp_helo = h\nacl_smtp_rcpt = r",
                              "h:\n  accept set acl_c_helo = seen $sender_helo_name\n"
                              "r:\n  warn set acl_m_count = ${acl_m_count}x\n"
                              "  deny condition = ${if eq{$acl_m_count}{xxx}}\n"
                              "       message = $acl_c_helo: only 2 ($acl_m_count)\n"
                              "  accept\n")
    with env:
        s = smtp(env)
        s.mail("a@example.org")
        assert rcpt(s, "a1@%s" % D1)[0] == 250
        assert rcpt(s, "a2@%s" % D1)[0] == 250
        assert rcpt(s, "a3@%s" % D1) == (550, "5.7.1 seen client.example: only 2 (xxx)")
        s.rset()  # acl_m_* start again with the next message, acl_c_* stay
        s.mail("a@example.org")
        assert rcpt(s, "b1@%s" % D1)[0] == 250
        s.quit()


def test_multiline_message_without_control_characters():
    env, sink, spated = start("acl_multiline", "acl_smtp_mail = m",
                              "m:\n  deny message = first line\\nsecond\\x01line\\r\n  \n")
    with env:
        c = greeted(env.smtp_addr)
        c.send("MAIL FROM:<a@example.org>\r\n")
        code, lines = c.reply()
        assert code == 550 and lines == ["550-5.7.1 first line", "550 5.7.1 secondline"], lines


def test_predata_and_data_deny():
    env, sink, spated = start("acl_data", "acl_smtp_predata = p\nacl_smtp_data = d",
                              "p:\n  deny senders = nodata@example.org\n"
                              "       message = no data for you\n  accept\n"
                              "d:\n  deny condition = ${if >{$message_size}{200}}\n"
                              "       message = too long for the ACL ($message_size)\n"
                              "  accept\n")
    with env:
        c = greeted(env.smtp_addr)
        c.expect("MAIL FROM:<nodata@example.org>", 250)
        c.expect("RCPT TO:<u@%s>" % D1, 250)
        c.expect("DATA", 550, r"^550 5\.7\.1 no data for you$")
        c.expect("RSET", 250)
        c.expect("MAIL FROM:<a@example.org>", 250)
        c.expect("RCPT TO:<u@%s>" % D1, 250)
        c.expect("DATA", 354)
        c.send(b"Subject: big\r\n\r\n" + b"x" * 300 + b"\r\n.\r\n")
        code, lines = c.reply()
        assert code == 550 and "too long for the ACL" in lines[0], lines
        c.expect("QUIT", 221)
        assert env.log_grep(r"rejected after DATA: too long for the ACL")
        time.sleep(0.3)
        assert sink.messages() == []


def test_connect_deny_and_quit_message():
    env, sink, spated = start("acl_connect", "acl_smtp_connect = c\nacl_smtp_quit = q",
                              "c:\n  deny hosts = 127.0.0.2\n       message = not you\n"
                              "  accept\n"
                              "q:\n  accept message = bye $sender_helo_name\n")
    with env:
        c = Client(env.smtp_addr, source="127.0.0.2")
        code, lines = c.reply()
        assert code == 554 and lines == ["554 5.7.1 not you"], lines
        assert c.at_eof()
        c = greeted(env.smtp_addr)
        c.expect("QUIT", 221, r"^221 2\.0\.0 bye client\.example$")
        assert env.log_grep(r"refused \[127\.0\.0\.2\]:\d+ connection: not you")


def test_connect_delay_catches_early_talkers():
    env, sink, spated = start("acl_early", "acl_smtp_connect = c",
                              "c:\n  accept delay = 1s\n")
    with env:
        c = Client(env.smtp_addr)
        c.send("EHLO impatient.example\r\n")  # before the banner
        code, lines = c.reply()
        assert code == 554 and "synchronization error" in lines[0], lines
        try:
            assert c.at_eof()
        except ConnectionResetError:
            pass  # closed with the client's unread command in its buffer: a reset
        assert env.log_grep(r"input sent without waiting for greeting")
        t0 = time.monotonic()
        c = Client(env.smtp_addr)  # a patient client waits out the delay
        assert c.reply()[0] == 220
        assert time.monotonic() - t0 >= 0.9
        c.expect("EHLO patient.example", 250)


def test_ratelimit_per_rcpt():
    env, sink, spated = start("acl_rate", "acl_smtp_rcpt = r",
                              "r:\n  deny ratelimit = 2 / 1h / per_rcpt / strict\n"
                              "       message = rate $sender_rate over $sender_rate_limit"
                              " per $sender_rate_period\n"
                              "  accept\n")
    with env:
        s = smtp(env)
        s.mail("a@example.org")
        codes = [rcpt(s, "r%d@%s" % (i, D1)) for i in range(6)]
        assert codes[0][0] == 250, codes
        refused = [t for c, t in codes if c == 550]
        assert refused and "over 2 per 1h" in refused[0], codes
        s.quit()


def test_default_policy_never_an_open_relay():
    env, sink, spated = start("acl_relay", "local_domains = %s" % D1, "",
                              "relay_from_hosts=192.0.2.1")
    with env:
        s = smtp(env)
        s.mail("a@example.org")
        assert rcpt(s, "u@elsewhere.example") == (550, "5.7.1 relay not permitted")
        assert rcpt(s, "u@%s" % D1)[0] == 250  # a local domain is fine
        s.quit()
        assert env.log_grep(r"rejected RCPT <u@elsewhere\.example>: relay not permitted")


def test_forgetful_rcpt_acl_denies_at_its_end():
    # Exim's rule, kept: an ACL that runs off its end denies, so forgetting
    # the final "deny" of a relay check does not make an open relay
    env, sink, spated = start("acl_forgot", "local_domains = %s\nacl_smtp_rcpt = r" % D1,
                              "r:\n  accept hosts = 192.0.2.0/24\n"
                              "  accept domains = +local_domains\n",
                              "relay_from_hosts=192.0.2.1")
    with env:
        s = smtp(env)
        s.mail("a@example.org")
        code, text = rcpt(s, "u@elsewhere.example")
        assert code == 550, (code, text)
        assert rcpt(s, "u@%s" % D1)[0] == 250
        s.quit()
        assert env.log_grep(r"rejected RCPT <u@elsewhere\.example>: implicit deny")


def test_syntax_error_names_file_line_and_word():
    env = Env("acl_syntax")
    with env:
        conf = env.write_config(extra_main="acl_smtp_rcpt = r",
                                retry="* * F,1h,1s\n\nbegin acl\nr:\n  accept\n"
                                "  deny hostz = 1.2.3.4\n")
        p = subprocess.run([os.path.join(spatetest.BUILD, "spated"), "-c", conf,
                            "--check-config"], capture_output=True, text=True, timeout=20)
        assert p.returncode != 0
        lines = open(conf).read().split("\n")
        line = next(i + 1 for i, l in enumerate(lines) if "hostz" in l)
        assert "%s:%d:" % (conf, line) in p.stderr and "hostz" in p.stderr, p.stderr


def test_reload_compiles_acls_again():
    env, sink, spated = start("acl_reload", "acl_smtp_rcpt = r",
                              "r:\n  deny local_parts = old\n  accept\n")
    with env:
        s = smtp(env)
        s.mail("a@example.org")
        assert rcpt(s, "old@%s" % D1)[0] == 550
        s.quit()
        text = open(spated.config).read().replace("local_parts = old", "local_parts = new")
        with open(spated.config, "w") as f:
            f.write(text)
        os.kill(spated.pid, signal.SIGHUP)
        wait_for(lambda: env.log_grep(r"reload|configuration"), 10)

        def refused(lp):
            s = smtp(env)
            s.mail("a@example.org")
            code = rcpt(s, "%s@%s" % (lp, D1))[0]
            s.quit()
            return code == 550
        wait_for(lambda: refused("new"), 10)
        assert not refused("old")


def test_acl_expansion_in_be_mode():
    env = Env("acl_be")
    with env:
        conf = env.write_config(retry="* * F,1h,1s\n\nbegin acl\n"
                                "greet:\n  accept message = hello $acl_arg1 ($acl_narg)\n"
                                "no:\n  deny\n")
        run = lambda s: subprocess.run([os.path.join(spatetest.BUILD, "spated"), "-c", conf,
                                        "-be", s], capture_output=True, text=True, timeout=20)
        assert run("${acl{greet}{world}}").stdout.strip() == "hello world (1)"
        assert "forced failure" in run("${acl{no}}").stdout


if __name__ == "__main__":
    spatetest.main(globals())

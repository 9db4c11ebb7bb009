"""End to end: RFC 3464 delivery status notifications sent by spated, parsed
back with Python's email package and compared with the corpus's real bounces:
a failure reported at once while another recipient is still deferred (with
ENVID, ORCPT and the extra information), NOTIFY=NEVER, RET=HDRS and a large
message (headers only), a success notice to a receiver that does not take DSN
requests (relayed) and through a dsn_lasthop router (delivered), and a
bounce_message_file template."""

import re

import dsnparse
import spatetest
from spatetest import Env, wait_for

TLD = spatetest.TLD


def inject(env, rcpts, dsn, content="Subject: dsn test\r\n\r\nthe body text\r\n",
           sender="alice@d2.%s" % TLD):
    status, body = spatetest.http_inject(env.http_url + "/api/v1/inject", {
        "envelope_sender": sender, "recipients": rcpts, "content": content, "dsn": dsn})
    assert status == 200, body
    return body["ids"][0]


def sinks(env, n_dsn_less=0):
    """d1 (a receiver without DSN when n_dsn_less), and d2.. on spate-sink"""
    addrs = env.sink_addrs(3)
    if n_dsn_less:
        return (env.start_spate_sink(addrs[:1], extra_args=["--no-dsn"]),
                env.start_spate_sink(addrs[1:]))
    s = env.start_spate_sink(addrs)
    return s, s


def test_failure_reported_while_another_recipient_is_deferred():
    with Env("dsn-fail") as env:
        env.start_dns(env.mx_zone(3))
        sink, _ = sinks(env)
        env.start_spated(env.write_config(extra_main="dsn_extra_info = true\n"
                                          "dsn_gather_window = 1s", retry="* * F,1h,30m"))
        d1 = "d1.%s" % TLD
        mid = inject(env, ["permfail-a@" + d1, "permfail-b@" + d1, "tempfail-c@" + d1,
                           "bob@" + d1],
                     {"envid": "envid-1+x", "notify": "FAILURE,DELAY",
                      "orcpt": {"permfail-a@" + d1: "rfc822;orig-a@example.net"}})
        wait_for(lambda: dsnparse.notices(sink), 15, what="the failure report")
        # reported promptly: tempfail-c is still deferred, the message queued
        assert not env.log_grep(mid + r" Completed$"), env.main_log()
        assert env.log_grep(mid + r" == tempfail-c@")
        e, data = dsnparse.notices(sink)[0]
        assert e["rcpt_to"] == ["alice@d2.%s" % TLD]
        m, text, blocks, orig = dsnparse.parse(data)
        shape = tuple(p.get_content_type() for p in m.get_payload())
        assert shape in dsnparse.corpus_report_shapes(), shape
        assert m["From"].startswith("Mail Delivery System <Mailer-Daemon@spate.")
        assert m["Auto-Submitted"] == "auto-replied"
        assert m["Subject"] == "Mail delivery failed: returning message to sender"
        assert "permfail-a@" + d1 in m["X-Failed-Recipients"]
        body = text.get_payload(decode=True).decode()
        assert "permfail-b@" + d1 in body and "550 5.1.1" in body and "bob@" not in body
        pm = blocks[0]
        assert pm["Reporting-MTA"] == "dns; spate.%s" % TLD
        assert pm["Original-Envelope-Id"] == "envid-1+x"
        assert dsnparse.is_date(pm["Arrival-Date"])
        r = dsnparse.by_rcpt(blocks)
        assert sorted(r) == ["permfail-a@" + d1, "permfail-b@" + d1], sorted(r)
        a = r["permfail-a@" + d1]
        assert a["Original-Recipient"] == "rfc822; orig-a@example.net"
        assert r["permfail-b@" + d1]["Original-Recipient"] is None
        assert a["Final-Recipient"] == "rfc822; permfail-a@" + d1
        assert a["Action"] == "failed" and a["Status"] == "5.1.1"
        mtas = a.get_all("Remote-MTA")
        assert "dns; mx.d1.%s" % TLD in mtas, mtas
        assert "X-ip; [%s]:%d" % (env.sink_ip(1), spatetest.SINK_PORT) in mtas, mtas
        assert a["Diagnostic-Code"].startswith("smtp; 550 5.1.1"), a["Diagnostic-Code"]
        assert "after RCPT TO:<permfail-a@" in a["X-Spate-Diagnostic"]
        assert a["X-Spate-Diagnostic"].startswith("X-str; SMTP error from remote mail server")
        assert dsnparse.is_date(a["Last-Attempt-Date"]) and a["Will-Retry-Until"] is None
        assert orig.get_content_type() == "message/rfc822"
        inner = orig.get_payload()[0]
        assert inner["Subject"] == "dsn test" and "the body text" in inner.get_payload()
        time_ok = len(dsnparse.notices(sink))
        assert time_ok == 1, [x for x, _ in dsnparse.notices(sink)]


def test_notify_never_and_ret_hdrs_and_size():
    with Env("dsn-never") as env:
        env.start_dns(env.mx_zone(3))
        sink, _ = sinks(env)
        env.start_spated(env.write_config(extra_main="bounce_return_size_limit = 2K\n"
                                          "dsn_gather_window = 0s"))
        d1 = "d1.%s" % TLD
        inject(env, ["permfail-n@" + d1], {"notify": "NEVER"})
        hdrs = inject(env, ["permfail-h@" + d1], {"ret": "HDRS"})
        big = inject(env, ["permfail-big@" + d1], {"ret": "FULL"},
                     content="Subject: big\r\n\r\n" + "x" * 70 + "\r\n" * 0 +
                     ("y" * 76 + "\r\n") * 60)
        full = inject(env, ["permfail-f@" + d1], {})
        wait_for(lambda: len(env.log_grep(r" Completed$")) == 7, 20, what="4 messages, 3 reports")
        got = {}
        for e, data in dsnparse.notices(sink):
            m, text, blocks, orig = dsnparse.parse(data)
            (addr,) = dsnparse.by_rcpt(blocks)
            got[addr.split("@")[0]] = orig
        assert sorted(got) == ["permfail-big", "permfail-f", "permfail-h"], sorted(got)
        assert got["permfail-h"].get_content_type() == "text/rfc822-headers"
        assert "Subject: dsn test" in got["permfail-h"].get_payload()
        assert "the body text" not in got["permfail-h"].get_payload()
        assert got["permfail-big"].get_content_type() == "text/rfc822-headers"
        assert "yyyy" not in got["permfail-big"].get_payload()
        assert got["permfail-f"].get_content_type() == "message/rfc822"
        assert len(env.log_grep(r" \*\* permfail-n@")) == 1
        assert hdrs and big and full


def test_success_relayed_and_lasthop_delivered():
    with Env("dsn-success") as env:
        env.start_dns(env.mx_zone(3))
        plain, sink = sinks(env, n_dsn_less=1)
        routers = ("last:\n  driver = dnslookup\n  domains = d3.%s\n  transport = remote_smtp\n"
                   "  dsn_lasthop = true\n"
                   "dnslookup:\n  driver = dnslookup\n  transport = remote_smtp\n" % TLD)
        env.start_spated(env.write_config(routers=routers, extra_main="dsn_gather_window = 0s"))
        d1, d3 = "d1.%s" % TLD, "d3.%s" % TLD
        inject(env, ["ok-1@" + d1], {"notify": "SUCCESS", "orcpt": {"ok-1@" + d1: "rfc822;o+1@x"}})
        inject(env, ["ok-3@" + d3], {"notify": "SUCCESS,FAILURE", "envid": "e3"})
        inject(env, ["ok-4@" + d1], {"notify": "FAILURE"})  # no success notice asked
        wait_for(lambda: len(dsnparse.notices(sink)) == 2, 15, what="two success notices")
        wait_for(lambda: len(env.log_grep(r" Completed$")) == 5, 15, what="all completed")
        assert len(dsnparse.notices(sink)) == 2
        seen = {}
        for e, data in dsnparse.notices(sink):
            m, text, blocks, orig = dsnparse.parse(data)
            assert m["Subject"] == "Delivery Status Notification (success)"
            assert m["X-Failed-Recipients"] is None
            assert orig.get_content_type() == "text/rfc822-headers"
            seen.update(dsnparse.by_rcpt(blocks))
            seen["pm:" + next(iter(dsnparse.by_rcpt(blocks)))] = blocks[0]
        a, b = seen["ok-1@" + d1], seen["ok-3@" + d3]
        assert a["Action"] == "relayed" and a["Status"] == "2.0.0", (a["Action"], a["Status"])
        assert a["Original-Recipient"] == "rfc822; o+1@x"
        assert a["Remote-MTA"] == "dns; mx.d1.%s" % TLD
        assert a["Diagnostic-Code"].startswith("smtp; 250 ")
        assert b["Action"] == "delivered" and b["Status"] == "2.0.0"
        assert seen["pm:ok-3@" + d3]["Original-Envelope-Id"] == "e3"
        assert plain.count() == 2


def test_bounce_message_file_template():
    with Env("dsn-template") as env:
        env.start_dns(env.mx_zone(3))
        sink, _ = sinks(env)
        tpl = env.path("bounce.txt")
        with open(tpl, "w") as f:
            f.write("Dear $bounce_recipient,\nmessage $message_id could not reach "
                    "$dsn_recipients.\n${dsn_details}"
                    "Subject was: ${if eq{$h_subject}{dsn test}{the test}{other}}\n")
        env.start_spated(env.write_config(extra_main="bounce_message_file = %s" % tpl))
        d1 = "d1.%s" % TLD
        mid = inject(env, ["permfail-t@" + d1], {})
        wait_for(lambda: dsnparse.notices(sink), 15, what="the failure report")
        m, text, blocks, orig = dsnparse.parse(dsnparse.notices(sink)[0][1])
        body = text.get_payload(decode=True).decode()
        assert body.startswith("Dear alice@d2.%s,\r\nmessage %s could not reach permfail-t@%s.\r\n"
                               % (TLD, mid, d1)), body
        assert re.search(r"^  permfail-t@\S+\r\n    SMTP error .*550 5\.1\.1", body, re.M), body
        assert "Subject was: the test\r\n" in body
        # a template that does not parse stops the start with the file named
        bad = env.path("bad.txt")
        with open(bad, "w") as f:
            f.write("${if eq{a}\n")
        p = spatetest.subprocess.run([spatetest.os.path.join(spatetest.BUILD, "spated"), "-c",
                                      env.write_config(extra_main="bounce_message_file = " + bad,
                                                       name="bad.conf"), "--check-config"],
                                     capture_output=True, text=True, timeout=20)
        assert p.returncode != 0 and "bad.txt" in p.stderr, (p.returncode, p.stderr)


spatetest.main(globals())

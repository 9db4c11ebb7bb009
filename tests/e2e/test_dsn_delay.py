"""End to end: a recipient that a 4xx receiver keeps deferring gets a delay
warning once delay_warning has passed (not for bulk mail, per the default
delay_warning_condition), then a failure report when the retry rule gives up."""

import dsnparse
import spatetest
from spatetest import Env, wait_for

TLD = spatetest.TLD


def test_delay_warning_then_failure_on_expiry():
    with Env("dsn-delay") as env:
        env.start_dns(env.mx_zone(2))
        sink = env.start_spate_sink(env.sink_addrs(2))
        env.start_spated(env.write_config(extra_main="delay_warning = 2s:1h\n"
                                          "dsn_gather_window = 0s", retry="* * F,7s,1s"))
        d1 = "d1.%s" % TLD
        for subject, extra in (("slow", ""), ("news", "Precedence: bulk\r\n")):
            status, body = spatetest.http_inject(env.http_url + "/api/v1/inject", {
                "envelope_sender": "alice@d2.%s" % TLD,
                "recipients": ["tempfail-%s@%s" % (subject, d1)],
                "content": "Subject: %s\r\n%s\r\nbody\r\n" % (subject, extra),
                "dsn": {"envid": "E-" + subject}})
            assert status == 200, body
        wait_for(lambda: dsnparse.notices(sink), 15, what="the delay warning")
        e, data = dsnparse.notices(sink)[0]
        m, text, blocks, orig = dsnparse.parse(data)
        assert m["Subject"].startswith("Warning: message ") and " delayed " in m["Subject"]
        assert m["X-Failed-Recipients"] is None
        assert blocks[0]["Original-Envelope-Id"] == "E-slow"
        (r,) = dsnparse.by_rcpt(blocks).values()
        assert r["Final-Recipient"] == "rfc822; tempfail-slow@" + d1
        assert r["Action"] == "delayed" and r["Status"] == "4.3.0", (r["Action"], r["Status"])
        assert r["Diagnostic-Code"].startswith("smtp; 451 4.3.0")
        assert dsnparse.is_date(r["Will-Retry-Until"]) and dsnparse.is_date(r["Last-Attempt-Date"])
        assert orig.get_content_type() == "text/rfc822-headers"
        assert "has not yet been delivered" in text.get_payload(decode=True).decode()
        # the retry rule gives up after 7 s: a failure report for both messages
        wait_for(lambda: len(dsnparse.notices(sink)) == 3, 25, what="the failure reports")
        kinds = []
        for e, data in dsnparse.notices(sink):
            m, text, blocks, orig = dsnparse.parse(data)
            (r,) = dsnparse.by_rcpt(blocks).values()
            kinds.append((blocks[0]["Original-Envelope-Id"], r["Action"]))
            if r["Action"] == "failed":
                assert r["Status"].startswith("5.")
                assert orig.get_content_type() == "message/rfc822"
        assert sorted(kinds) == [("E-news", "failed"), ("E-slow", "delayed"),
                                 ("E-slow", "failed")], kinds
        assert len(env.log_grep(r"\(delay warning\)$")) == 1


spatetest.main(globals())

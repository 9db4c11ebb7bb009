"""test_admin - the admin API and spatectl against a running spated whose
mail stays queued (no receiver: connection refused, retried only hourly):
listing with filters and cursor paging, show with the DSN parameters,
the destinations view, freeze/thaw, retry, bounce (the sender's notice),
delete (no notice), suspend/resume (held, no attempt counted), each with
its log line; the bearer token on a non-loopback admin_listen, read-only
scope, refusals logged; spatectl's exit codes."""

import functools
import json
import os
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import spatetest  # noqa: E402
import spatetest_admin  # noqa: E402
from spatetest import Env, wait_for  # noqa: E402

D1 = "d1.%s" % spatetest.TLD
D2 = "d2.%s" % spatetest.TLD
# the harness listens on 127.N.0.1, which is not loopback proper (127.0.0.1,
# ::1): the admin API wants a token there
TOKEN = "t0ken-for-tests"
_TOKEN_FILE = []
api = functools.partial(spatetest_admin.api, token=TOKEN)
inject = functools.partial(spatetest_admin.inject, content="Subject: admin\n\nqueued\n")


def ctl(url, *args, token_file=""):
    if token_file == "":
        token_file = _TOKEN_FILE[0] if _TOKEN_FILE else None
    return spatetest_admin.ctl(url, token_file, *args)


def start(name, extra=""):
    env = Env(name)
    env.start_dns(env.mx_zone(2))
    tokens = spatetest_admin.token_file(env, "admin %s\n" % TOKEN)
    _TOKEN_FILE[:] = [tokens]
    conf = env.write_config(extra_main="admin_token_file = %s\n%s" % (tokens, extra),
                            retry="* * F,1d,1h")
    env.start_spated(conf)
    return env


def deferred(env, mid):
    wait_for(lambda: env.log_grep(r" %s == " % mid), 30, what="deferral of %s" % mid)


def test_list_show_page_and_filters():
    with start("admin_list") as env:
        url = env.http_url
        a = inject(env, ["a@%s" % D1], dsn={"ret": "HDRS", "envid": "env-1", "notify": ["FAILURE"]})
        b = inject(env, ["b@%s" % D2], sender="other@example.net")
        c = inject(env, ["c@%s" % D1, "c@%s" % D2])
        for m in (a, b, c):
            deferred(env, m)
        st, page = api(url, "/api/v1/admin/messages?limit=2")
        assert st == 200 and [m["id"] for m in page["messages"]] == sorted([a, b, c])[:2], page
        st, page2 = api(url, "/api/v1/admin/messages?limit=2&cursor=" + page["next_cursor"])
        assert [m["id"] for m in page2["messages"]] == [sorted([a, b, c])[2]]
        assert page2["next_cursor"] is None
        st, dom = api(url, "/api/v1/admin/messages?domain=" + D2)
        assert sorted(m["id"] for m in dom["messages"]) == sorted([b, c]), dom
        st, snd = api(url, "/api/v1/admin/messages?sender=other@example.net")
        assert [m["id"] for m in snd["messages"]] == [b], snd
        st, old = api(url, "/api/v1/admin/messages?older_than=1h")
        assert st == 200 and old["messages"] == [], old
        st, sch = api(url, "/api/v1/admin/messages?state=scheduled")
        assert len(sch["messages"]) == 3, sch
        r = sch["messages"][0]["recipients"][0]
        assert r["state"] == "pending" and r["attempts"] == 1 and r["last_response"], r
        st, one = api(url, "/api/v1/admin/messages/" + a)
        assert st == 200 and one["dsn_ret"] == "HDRS" and one["dsn_envid"] == "env-1", one
        assert one["recipients"][0]["dsn_notify"] == ["FAILURE"], one
        for bad in ("state=odd", "limit=0", "older_than=x", "cursor=..", "domain=a%20b"):
            st, err = api(url, "/api/v1/admin/messages?" + bad)
            assert st == 400 and err["field"] == bad.split("=")[0], (bad, err)
        assert api(url, "/api/v1/admin/messages/0000000000A-AAAA")[0] == 404
        st, d = api(url, "/api/v1/admin/destinations")
        assert st == 200 and d["messages"] == 3 and len(d["destinations"]) == 2, d
        for dest in d["destinations"]:  # two recipients each wait for their retry time
            assert dest["scheduled"] == 2 and dest["ready"] == 0, dest
            assert "onnection refused" in dest["last_error"]["text"], dest
            assert dest["last_error"]["at"].endswith("Z") and dest["rate_per_s"] >= 0, dest
        rc, out, err = ctl(url, "queue", "--domain", D2)
        assert rc == 0 and b in out and c in out and a not in out, (out, err)
        rc, out, err = ctl(url, "--json", "queue")
        assert rc == 0 and len(json.loads(out)["messages"]) == 3, out
        rc, out, err = ctl(url, "show", a)
        assert rc == 0 and "env-1" in out, out
        rc, out, err = ctl(url, "qshape")
        assert rc == 0 and "TOTAL" in out and D1 in out, out
        assert ctl(url, "destinations")[0] == 0
        assert ctl(url, "queue", "--bogus")[0] == 2
        assert ctl(url, "show", "0000000000A-AAAA")[0] == 1
        assert ctl(url, "top", "--interval", "0")[0] == 2


def test_actions():
    with start("admin_act") as env:
        url = env.http_url
        a = inject(env, ["a@%s" % D1])
        b = inject(env, ["b@%s" % D1])
        c = inject(env, ["c@%s" % D2])
        for m in (a, b, c):
            deferred(env, m)
        # freeze / thaw
        rc, out, err = ctl(url, "freeze", a)
        assert rc == 0 and "1 message" in out, (out, err)
        st, fr = api(url, "/api/v1/admin/messages?state=frozen")
        assert [m["id"] for m in fr["messages"]] == [a], fr
        assert env.log_grep(r"%s frozen by admin \(\[127\.0\.0\.1\]:\d+ scope=admin via token"
                            % a), env.main_log()[-5:]
        assert env.log_grep(r"admin: freeze ids=%s by .*: 1 message" % a), env.main_log()[-5:]
        assert ctl(url, "thaw", a)[0] == 0
        # retry now: a second attempt, counted
        assert api(url, "/api/v1/admin/retry", {"ids": [b]}) == (200, {"affected": 1})
        wait_for(lambda: len(env.log_grep(r" %s == " % b)) == 2, 30, what="retried")
        # bounce with a reason: the sender gets the notice
        assert api(url, "/api/v1/admin/bounce", {"ids": [b], "reason": "spam run"}) == \
            (200, {"affected": 1})
        wait_for(lambda: env.log_grep(r"%s \*\* b@%s.*bounced by administrator: spam run"
                                      % (b, D1)), 30, what="bounce")
        wait_for(lambda: env.log_grep(r"<= <> R=%s" % b), 30, what="the notice")
        # delete: no notice
        assert ctl(url, "delete", c)[0] == 0
        wait_for(lambda: env.log_grep(r"%s Completed" % c), 30, what="deleted")
        assert env.log_grep(r"%s deleted by admin" % c)
        assert not env.log_grep(r"<= <> R=%s" % c)
        # errors: usage 2, refusal 1
        assert ctl(url, "freeze")[0] == 2
        assert ctl(url, "bounce", a, "--domain", D1)[0] == 2
        assert ctl(url, "rebind", "--domain", D1, "--transport", "x")[0] == 1
        assert api(url, "/api/v1/admin/freeze", {"ids": ["nope"]})[0] == 400
        assert api(url, "/api/v1/admin/suspend", {"ids": [a]})[0] == 400


def test_suspend_holds_without_attempts():
    with start("admin_susp") as env:
        url = env.http_url
        a = inject(env, ["a@%s" % D1])
        deferred(env, a)
        rc, out, err = ctl(url, "suspend", D1, "--for", "1h", "--reason", "maintenance")
        assert rc == 0, err
        assert env.log_grep(r"admin: suspend domain=%s for=3600s by .*maintenance.*: 1 message"
                            % D1), env.main_log()[-5:]
        st, d = api(url, "/api/v1/admin/destinations")
        assert d["suspended"][0]["domain"] == D1 and d["suspended"][0]["reason"] == "maintenance"
        # a retry does nothing to a held recipient: no attempt is counted
        assert api(url, "/api/v1/admin/retry", {"domain": D1})[0] == 200
        b = inject(env, ["b@%s" % D1])
        st, one = api(url, "/api/v1/admin/messages/" + b)
        assert one["recipients"][0]["held"] and one["recipients"][0]["attempts"] == 0, one
        assert not env.log_grep(r" %s == " % b)
        assert len(env.log_grep(r" %s == " % a)) == 1
        assert ctl(url, "resume", D1)[0] == 0
        wait_for(lambda: env.log_grep(r" %s == " % b), 30, what="attempt after resume")


def test_suspend_several_domains_in_one_request():
    with start("admin_susp2") as env:
        url = env.http_url
        a = inject(env, ["a@%s" % D1])
        b = inject(env, ["b@%s" % D2])
        for m in (a, b):
            deferred(env, m)
        rc, out, err = ctl(url, "suspend", D1, D2, "--for", "1h", "--reason", "both")
        assert rc == 0 and "2 message" in out, (out, err)
        st, d = api(url, "/api/v1/admin/destinations")
        assert sorted(x["domain"] for x in d["suspended"]) == sorted([D1, D2]), d
        for dom in (D1, D2):  # one log line per domain
            assert env.log_grep(r"admin: suspend domain=%s for=3600s by .*: 1 message" % dom)
        assert api(url, "/api/v1/admin/resume", {"domains": [D1, D2]}) == (200, {"affected": 2})
        st, d = api(url, "/api/v1/admin/destinations")
        assert d["suspended"] == [], d
        for bad in ({"domains": []}, {"domains": [D1], "domain": D2}, {"domains": ["a b"]},
                    {"domains": [D1], "ids": [a]}, {"domains": ["d%d.x" % i for i in range(1001)]},
                    {"domains": D1}):
            st, err = api(url, "/api/v1/admin/suspend", bad)
            assert st == 400 and err["field"] in ("domains", "ids"), (bad, st, err)
        st, ans = api(url, "/api/v1/admin/freeze", {"domains": [D1, D2]})
        assert (st, ans) == (200, {"affected": 2}), ans
        st, fr = api(url, "/api/v1/admin/messages?state=frozen")
        assert sorted(m["id"] for m in fr["messages"]) == sorted([a, b]), fr


def test_token_on_non_loopback_listener():
    with Env("admin_token") as env:
        env.start_dns(env.mx_zone(1))
        tokens = spatetest_admin.token_file(env, "# tokens\nadmin s3cret-admin\nread r3ad-only\n")
        admin_addr = "%s:8026" % env.ip(0, 2)
        conf = env.write_config(extra_main="admin_listen = %s\nadmin_token_file = %s"
                                % (admin_addr, tokens))
        env.start_spated(conf)
        aurl = "http://" + admin_addr
        assert api(aurl, "/api/v1/admin/messages", token=None)[0] == 401
        assert api(aurl, "/api/v1/admin/messages", token="wrong")[0] == 401
        assert api(aurl, "/api/v1/admin/messages", token="r3ad-only")[0] == 200
        assert api(aurl, "/api/v1/admin/retry", {"domain": D1}, token="r3ad-only")[0] == 403
        assert api(aurl, "/api/v1/admin/retry", {"domain": D1}, token="s3cret-admin") == \
            (200, {"affected": 0})
        assert api(aurl, "/api/v1/stats", token="s3cret-admin")[0] == 404
        assert env.log_grep(r"admin: refused GET /api/v1/admin/messages from .*token")
        assert env.log_grep(r"admin: refused POST /api/v1/admin/retry .*read-only")
        assert ctl(aurl, "queue", token_file=None)[0] == 1
        assert ctl(aurl, "queue", token_file=tokens)[0] == 0
        # the spated test address 127.N.0.1 is not loopback proper either
        assert api(env.http_url, "/api/v1/admin/messages", token=None)[0] == 401
        # 127.0.0.1 is: no token needed there
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        env.spated.stop()
        conf = env.write_config(extra_main="admin_listen = 127.0.0.1:%d\nadmin_token_file = %s"
                                % (port, tokens), name="lo.conf")
        env.start_spated(conf)
        lo = "http://127.0.0.1:%d" % port
        assert api(lo, "/api/v1/admin/messages", token=None)[0] == 200
        assert ctl(lo, "retry", "--domain", D1, token_file=None)[0] == 0
        assert env.log_grep(r"admin: retry domain=%s by \[127\.0\.0\.1\]:\d+ scope=admin "
                            r"via loopback: 0 message" % D1)


if __name__ == "__main__":
    spatetest.main(globals())

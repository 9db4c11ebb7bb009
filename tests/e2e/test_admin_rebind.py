"""test_admin_rebind - the admin action rebind against a running spated
whose mail stays queued (its receivers answer 421 to every connection,
counted; retried only hourly): rebound by domain to a transport no router
uses (the domain's MX on that transport's port), by ids to a transport a
manualroute router uses (its route_list "*" rule, its domains condition
ignored); delivered there at once, no further attempt at the first
receiver, other domains and messages untouched; the message JSON shows the
override, the main and JSON logs the action; unknown transports refused
(400, spatectl exit 1), usage errors (spatectl exit 2)."""

import contextlib
import functools
import json
import os
import socket
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import spatetest  # noqa: E402
import spatetest_admin  # noqa: E402
from spatetest import Env, wait_for  # noqa: E402

D1 = "d1.%s" % spatetest.TLD
D2 = "d2.%s" % spatetest.TLD
TOKEN = "t0ken-for-tests"
OTHER_PORT = 12527  # transport "other": no router uses it
SMART_PORT = 12528  # transport "smart": the manualroute router "smarthost"
_TOKEN_FILE = []
api = functools.partial(spatetest_admin.api, token=TOKEN)
inject = functools.partial(spatetest_admin.inject, content="Subject: rebind\n\nqueued\n")


class Refuser:
    """A receiver that answers every connection 421 and closes; counts them."""

    def __init__(self, ip, port):
        self.count = 0
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((ip, port))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.running = True
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while self.running:
            try:
                c, _ = self.sock.accept()
            except OSError:
                continue
            self.count += 1
            try:
                c.sendall(b"421 4.3.2 busy, try later\r\n")
            except OSError:
                pass
            c.close()

    def stop(self):
        self.running = False
        self.thread.join(5)
        self.sock.close()


def ctl(url, *args):
    return spatetest_admin.ctl(url, _TOKEN_FILE[0], *args)


def start(env):
    """spated with d1, d2 refused (421), a sink for "other" on d1's MX and
    one for the smarthost; returns (refusers, other sink, smart sink, json log)."""
    env.start_dns(env.mx_zone(2))
    refusers = [Refuser(env.sink_ip(k), spatetest.SINK_PORT) for k in (1, 2)]
    other = env.start_spate_sink(["%s:%d" % (env.sink_ip(1), OTHER_PORT)])
    smart = env.start_spate_sink(["%s:%d" % (env.ip(2, 1), SMART_PORT)])
    tokens = spatetest_admin.token_file(env, "admin %s\n" % TOKEN)
    _TOKEN_FILE[:] = [tokens]
    jpath = env.path("delivery.json")
    routers = ("dnslookup:\n  driver = dnslookup\n  transport = remote_smtp\n"
               "smarthost:\n  driver = manualroute\n  domains = nothing.invalid\n"
               "  route_list = * %s\n  transport = smart\n" % env.ip(2, 1))
    transports = ("remote_smtp:\n  driver = smtp\n  port = %d\n"
                  "other:\n  driver = smtp\n  port = %d\n"
                  "smart:\n  driver = smtp\n  port = %d\n"
                  % (spatetest.SINK_PORT, OTHER_PORT, SMART_PORT))
    conf = env.write_config(extra_main="admin_token_file = %s\nlog_json_path = %s"
                            % (tokens, jpath), routers=routers, transports=transports,
                            retry="* * F,1d,1h")
    env.start_spated(conf)
    return refusers, other, smart, jpath


@contextlib.contextmanager
def started(name):
    """Env name, start(env) done: (env, refusers, other sink, smart sink,
    json log); the refusers stopped at the end."""
    with Env(name) as env:
        refusers, other, smart, jpath = start(env)
        try:
            yield env, refusers, other, smart, jpath
        finally:
            for r in refusers:
                r.stop()


def deferred(env, mid, n=1):
    wait_for(lambda: len(env.log_grep(r" %s == " % mid)) >= n, 20,
             what="deferral of %s" % mid)


def json_records(path):
    try:
        with open(path) as f:
            return [json.loads(line) for line in f if line.strip()]
    except OSError:
        return []


def test_rebind_domain_to_transport_without_router():
    with started("admin_rebind_dom") as (env, refusers, other, smart, jpath):
        url = env.http_url
        a = inject(env, ["a1@%s" % D1, "a2@%s" % D1])
        b = inject(env, ["b@%s" % D1, "b@%s" % D2])
        c = inject(env, ["c@%s" % D2])
        for m, n in ((a, 1), (b, 2), (c, 1)):
            deferred(env, m, n)
        before = refusers[0].count
        assert before >= 1
        rc, out, err = ctl(url, "rebind", "--domain", D1, "--transport", "other")
        assert rc == 0 and "rebind: 2 message(s)" in out, (rc, out, err)
        msgs = other.wait_messages(2)
        got = sorted(r for env_, _ in msgs for r in env_["rcpt_to"])
        assert got == sorted(["a1@%s" % D1, "a2@%s" % D1, "b@%s" % D1]), msgs
        for r, m in (("a1", a), ("a2", a), ("b", b)):
            wait_for(lambda: env.log_grep(r"%s => %s@%s R=rebind T=other" % (m, r, D1)), 10,
                     what="=> line of %s" % r)
        assert env.log_grep(r"admin: rebind domain=%s transport=other by .*: 2 message\(s\)"
                            % D1), env.main_log()[-5:]
        # no further attempt at d1's receiver; d2 untouched
        assert refusers[0].count == before, (refusers[0].count, before)
        assert len(env.log_grep(r" %s == " % c)) == 1
        assert not env.log_grep(r"%s => " % c)
        assert not env.log_grep(r"=> \S+@%s" % D2.replace(".", r"\."))
        st, show = api(url, "/api/v1/admin/messages/" + b)
        assert st == 200 and show["rebind"] == [{"domain": D1, "transport": "other"}], show
        states = {r["address"]: r["state"] for r in show["recipients"]}
        assert states == {"b@%s" % D1: "delivered", "b@%s" % D2: "pending"}, show
        st, show = api(url, "/api/v1/admin/messages/" + c)
        assert st == 200 and "rebind" not in show, show
        assert smart.count() == 0
        wait_for(lambda: [r for r in json_records(jpath) if r.get("event") == "admin"], 10,
                 what="the admin record")
        rec = [r for r in json_records(jpath) if r.get("event") == "admin"][0]
        assert rec["action"] == "rebind" and rec["transport"] == "other" and \
            rec["messages"] == 2 and rec["destination"] == D1, rec


def test_rebind_ids_to_smarthost():
    with started("admin_rebind_ids") as (env, refusers, other, smart, jpath):
        url = env.http_url
        a = inject(env, ["a@%s" % D1, "a@%s" % D2])
        b = inject(env, ["b@%s" % D1])
        deferred(env, a, 2)
        deferred(env, b)
        # a frozen message keeps its override while held
        assert ctl(url, "freeze", a)[0] == 0
        assert api(url, "/api/v1/admin/rebind", {"ids": [a], "transport": "smart"}) == \
            (200, {"affected": 1})
        st, show = api(url, "/api/v1/admin/messages/" + a)
        assert show["rebind"] == [{"domain": None, "transport": "smart"}], show
        assert show["state"] == "frozen" and smart.count() == 0, show
        before = [r.count for r in refusers]
        assert ctl(url, "thaw", a)[0] == 0
        msgs = smart.wait_messages(1)
        assert sorted(msgs[0][0]["rcpt_to"]) == sorted(["a@%s" % D1, "a@%s" % D2]), msgs
        wait_for(lambda: len(env.log_grep(r"%s => a@\S+ R=smarthost T=smart" % a)) == 2, 10,
                 what="=> lines of %s" % a)
        assert [r.count for r in refusers] == before
        assert not env.log_grep(r"%s => " % b) and other.count() == 0
        assert env.log_grep(r"admin: rebind ids=%s transport=smart by .*: 1 message" % a)
        # spatectl by ids
        rc, out, err = ctl(url, "rebind", b, "--transport", "smart")
        assert rc == 0 and "1 message" in out, (out, err)
        smart.wait_messages(2)


def test_rebind_refusals():
    with started("admin_rebind_bad") as (env, refusers, other, smart, jpath):
        url = env.http_url
        a = inject(env, ["a@%s" % D1])
        deferred(env, a)
        rc, out, err = ctl(url, "rebind", "--domain", D1, "--transport", "nope")
        assert rc == 1 and "no transport named nope" in err, (rc, out, err)
        st, ans = api(url, "/api/v1/admin/rebind", {"ids": [a], "transport": "nope"})
        assert st == 400 and ans["field"] == "transport", ans
        assert "no transport named nope" in ans["error"], ans
        assert env.log_grep(r"admin: rebind domain=%s transport=nope by .*refused" % D1)
        st, ans = api(url, "/api/v1/admin/rebind", {"domain": D1})
        assert st == 400 and ans["field"] == "transport", ans
        st, ans = api(url, "/api/v1/admin/rebind", {"transport": "other"})
        assert st == 400 and ans["field"] == "ids", ans
        st, ans = api(url, "/api/v1/admin/rebind",
                      {"ids": [a], "domain": D1, "transport": "other"})
        assert st == 400, ans
        assert ctl(url, "rebind", "--domain", D1)[0] == 2
        assert ctl(url, "rebind", "--transport", "other")[0] == 2
        assert ctl(url, "rebind", a, "--domain", D1, "--transport", "other")[0] == 2
        # nothing moved: no override, no delivery
        st, show = api(url, "/api/v1/admin/messages/" + a)
        assert st == 200 and "rebind" not in show, show
        assert other.count() == 0 and not env.log_grep(r"%s => " % a)


if __name__ == "__main__":
    spatetest.main(globals())

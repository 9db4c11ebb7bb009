"""test_admin_queue_only - with queue_only = true, the admin actions that
reschedule (suspend, resume, thaw) start no delivery that queue_only would
not start; retry (and rebind) are the operator's order to deliver: they do,
and a message released that way is then resumed like any other.

One spated with queue_only and a receiver (spate-sink) for d1 and d2 that
accepts everything, so anything the engine starts is delivered at once and
counted there."""

import functools
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import spatetest  # noqa: E402
import spatetest_admin  # noqa: E402
from spatetest import Env, wait_for  # noqa: E402

D1 = "d1.%s" % spatetest.TLD
D2 = "d2.%s" % spatetest.TLD
TOKEN = "t0ken-for-tests"
SETTLE = 2.0  # seconds a delivery to the local sink would take at most
api = functools.partial(spatetest_admin.api, token=TOKEN)
inject = functools.partial(spatetest_admin.inject, content="Subject: queue_only\n\nheld\n")


def start(name):
    """spated with queue_only and a token file, a sink for d1 and d2"""
    env = Env(name)
    env.start_dns(env.mx_zone(2))
    sink = env.start_spate_sink(env.sink_addrs(2))
    tokens = spatetest_admin.token_file(env, "admin %s\n" % TOKEN)
    conf = env.write_config(extra_main="queue_only = true\nadmin_token_file = %s" % tokens,
                            retry="* * F,1d,1h")
    env.start_spated(conf)
    return env, sink


def act(env, op, body, affected):
    st, ans = api(env.http_url, "/api/v1/admin/" + op, body)
    assert (st, ans) == (200, {"affected": affected}), (op, body, st, ans)


def nothing_delivered(env, sink, ids, after):
    """SETTLE seconds later: the sink got nothing, no delivery is logged"""
    time.sleep(SETTLE)
    assert sink.count() == 0, (after, sink.count())
    for mid in ids:
        assert not env.log_grep(r" %s [=-]> " % mid), (after, mid)
        st, one = api(env.http_url, "/api/v1/admin/messages/" + mid)
        assert st == 200, (after, mid, st, one)
        assert all(r["state"] == "pending" and r["attempts"] == 0
                   for r in one["recipients"]), (after, one)


def test_suspend_resume_thaw_start_nothing_retry_delivers():
    env, sink = start("admin_queue_only")
    with env:
        m = inject(env, ["a@%s" % D1, "b@%s" % D2])
        f = inject(env, ["c@%s" % D1])
        nothing_delivered(env, sink, [m, f], "injection")
        act(env, "suspend", {"domain": D2, "reason": "q"}, 1)
        nothing_delivered(env, sink, [m, f], "suspend")
        act(env, "resume", {"domain": D2}, 1)
        nothing_delivered(env, sink, [m, f], "resume")
        act(env, "freeze", {"ids": [f]}, 1)
        act(env, "thaw", {"ids": [f]}, 1)
        nothing_delivered(env, sink, [m, f], "thaw")
        act(env, "retry", {"ids": [m]}, 1)
        wait_for(lambda: sink.count() == 2, 20, what="a@d1 and b@d2 at the sink")
        wait_for(lambda: env.log_grep(r" %s Completed" % m), 20, what="%s completed" % m)
        time.sleep(SETTLE)
        assert sink.count() == 2 and not env.log_grep(r" %s [=-]> " % f), sink.count()
        act(env, "retry", {"ids": [f]}, 1)
        wait_for(lambda: sink.count() == 3, 20, what="c@d1 at the sink")


def test_retried_while_suspended_is_resumed():
    env, sink = start("admin_queue_only_resume")
    with env:
        m = inject(env, ["x@%s" % D2])
        act(env, "suspend", {"domain": D2}, 1)
        act(env, "retry", {"ids": [m]}, 1)  # released, but held by the suspension
        time.sleep(SETTLE)
        assert sink.count() == 0 and not env.log_grep(r" %s [=-]> " % m), sink.count()
        act(env, "resume", {"domain": D2}, 1)
        wait_for(lambda: sink.count() == 1, 20, what="x@d2 at the sink after resume")


if __name__ == "__main__":
    spatetest.main(globals())

"""test_admin_progress - a bulk action's progress: GET /api/v1/admin/actions
lists a freeze --domain over 100,000 held messages while it runs (visited
growing, queued set, affected never above visited) and no more once it is
answered; a read token may read it; spatectl --progress prints the progress
line on stderr and the count on stdout, and with --json stdout carries only
the daemon's answer.

One spated (queue_only = true: nothing is ever tried) is shared by the test
functions; the messages go in through the HTTP injection API in batches.
Under ASan a freeze of 100,000 messages takes about a second, so the
action outlasts spatectl's first 0.5 s tick; a run that ends sooner than
that is tried again (at most 3 times) rather than counted as a failure.
"""

import functools
import json
import os
import re
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import spatetest  # noqa: E402
import spatetest_admin  # noqa: E402
from spatetest import Env  # noqa: E402

TOKEN, READ_TOKEN = "progress-t0ken", "progress-read-t0ken"
N = 100000
BATCH = 500
DOM = "d1.%s" % spatetest.TLD
ACTIONS = "/api/v1/admin/actions"
LINE = re.compile(r"^(freeze|thaw) domain=%s: (\d+)/(\d+) messages visited, (\d+) affected, "
                  r"(\d+) s$" % re.escape(DOM))
api = functools.partial(spatetest_admin.api, token=TOKEN, timeout=60)


class World:
    """The shared daemon, N messages for DOM queued and held."""

    def __init__(self):
        self.env = env = Env("admin_progress")
        env.start_dns(env.mx_zone(2))
        self.tokens = spatetest_admin.token_file(env, "admin %s\nread %s\n" % (TOKEN, READ_TOKEN))
        env.start_spated(self.config(""))
        self.url = env.http_url
        self.frozen = False
        self._inject()

    def _inject(self):
        def make(k):
            return [{"envelope_sender": "s@example.org", "recipients": ["u%d@%s" % (i, DOM)],
                     "content": "Subject: p %d\n\nbody\n" % i} for i in range(k, k + BATCH)]
        spatetest_admin.inject_batches(self.url, list(range(0, N, BATCH)), make)

    def config(self, extra):
        """(Re)write the daemon's configuration file; its path"""
        return self.env.write_config(extra_main="queue_only = true\nadmin_token_file = %s\n%s"
                                     % (self.tokens, extra))

    def reload(self, extra):
        """the configuration with extra, through SIGHUP"""
        n = len(self.env.log_grep("configuration reloaded"))
        self.config(extra)
        self.env.spated.popen.send_signal(signal.SIGHUP)
        spatetest.wait_for(lambda: len(self.env.log_grep("configuration reloaded")) > n, 20,
                           what="the reload")

    def flip(self):
        """The action that undoes the last one: freeze, then thaw, ..."""
        op = "thaw" if self.frozen else "freeze"
        self.frozen = not self.frozen
        return op

    def ctl(self, *args):
        t0 = time.time()
        rc, out, err = spatetest_admin.ctl(self.url, self.tokens, *args, timeout=120)
        return rc, out, err, time.time() - t0

    def close(self):
        self.env.close()


world = spatetest_admin.shared(World)


def watch(w, op):
    """POST op for DOM while reading the actions list; (answer, samples of
    our entry, every answer to the list)."""
    res, samples, answers = [], [], []
    th = threading.Thread(target=lambda: res.append(api(w.url, "/api/v1/admin/" + op,
                                                        {"domain": DOM})))
    th.start()
    while th.is_alive():
        st, ans = api(w.url, ACTIONS)
        assert st == 200, (st, ans)
        answers.append(ans)
        samples += [a for a in ans["actions"] if a["op"] == op and a["domain"] == DOM]
        time.sleep(0.01)
    th.join()
    return res[0], samples, answers


def test_actions_lists_a_bulk_freeze_while_it_runs():
    w = world()
    for _ in range(3):
        op = w.flip()
        (st, ans), samples, answers = watch(w, op)
        assert (st, ans) == (200, {"affected": N}), (st, ans)
        if len(samples) >= 2:
            break
    assert len(samples) >= 2, "the action was listed %d time(s)" % len(samples)
    visited = [s["visited"] for s in samples]
    assert visited == sorted(visited) and visited[-1] > visited[0], visited
    ids = {s["id"] for s in samples}
    assert len(ids) == 1 and list(ids)[0] >= 1, ids
    for s in samples:
        assert s["queued"] == N, s
        assert 0 <= s["affected"] <= s["visited"] <= N, s
        assert s["selector"] == "domain=" + DOM, s
        assert "scope=admin" in s["who"], s
        assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", s["started_at"]), s
        assert set(s) == {"id", "op", "selector", "domain", "who", "visited", "queued",
                          "affected", "started_at"}, s
    # answered: no longer listed
    assert api(w.url, ACTIONS) == (200, {"actions": []})


def test_actions_read_scope_and_methods():
    w = world()
    assert api(w.url, ACTIONS, token=READ_TOKEN) == (200, {"actions": []})
    st, ans = api(w.url, ACTIONS, body={}, token=TOKEN)
    assert st == 405, (st, ans)
    st, ans = api(w.url, "/api/v1/admin/freeze", {"domain": DOM}, token=READ_TOKEN)
    assert st == 403, (st, ans)


def ctl_progress(w, *extra):
    """spatectl [extra] OP --progress --domain DOM, again while it ends
    before the first tick; (op, rc, stdout, stderr lines)."""
    for _ in range(3):
        op = w.flip()
        rc, out, err, took = w.ctl(*extra, op, "--progress", "--domain", DOM)
        lines = [ln for ln in err.splitlines() if ln]
        if lines or took >= 0.8:  # else too quick for the first tick: again
            break
    return op, rc, out, lines, took


def test_spatectl_progress_lines_then_the_count():
    w = world()
    op, rc, out, lines, took = ctl_progress(w)
    assert rc == 0, (rc, out, lines)
    assert out == "%s: %d message(s)\n" % (op, N), out
    assert lines, "no progress line in %.1f s" % took
    for ln in lines:
        m = LINE.match(ln)
        assert m and m.group(1) == op, ln
        assert int(m.group(3)) == N and int(m.group(4)) <= int(m.group(2)) <= N, ln


def test_spatectl_json_keeps_stdout_to_the_answer():
    w = world()
    op, rc, out, lines, took = ctl_progress(w, "--json")
    assert rc == 0, (rc, out, lines)
    assert json.loads(out) == {"affected": N}, out
    assert out.count("\n") == 1, out
    assert lines and all(LINE.match(ln) for ln in lines), (lines, took)


def test_spatectl_no_progress_off_a_terminal():
    w = world()
    op = w.flip()
    rc, out, err, took = w.ctl(op, "--domain", DOM)
    assert (rc, out, err) == (0, "%s: %d message(s)\n" % (op, N), ""), (rc, out, err, took)


def test_spatectl_follows_an_action_past_the_daemons_wait():
    """admin_action_wait = 0s: the daemon answers 503 at once and the action
    goes on; spatectl follows it in the actions list to its end, prints the
    last count it saw and exits 0; the action did reach every message."""
    w = world()
    w.reload("admin_action_wait = 0s")
    try:
        st, ans = api(w.url, "/api/v1/admin/" + w.flip(), {"domain": DOM})
        assert st == 503 and ans["error"].startswith("the scheduler did not finish"), ans
        spatetest.wait_for(lambda: api(w.url, ACTIONS)[1]["actions"] == [], 60, what="its end")
        op = w.flip()
        rc, out, err, took = w.ctl(op, "--domain", DOM)
        m = re.match(r"^%s: (\d+) message\(s\)\n$" % op, out)
        assert rc == 0 and m and 0 < int(m.group(1)) <= N, (rc, out, err, took)
        assert "stopped waiting" in err, err
        spatetest.wait_for(lambda: api(w.url, ACTIONS)[1]["actions"] == [], 60, what="its end")
        st, page = api(w.url, "/api/v1/admin/messages?limit=1000&state=frozen")
        assert st == 200 and len(page["messages"]) == (1000 if op == "freeze" else 0), \
            (op, st, len(page["messages"]))
    finally:
        w.reload("")


if __name__ == "__main__":
    spatetest.main(globals())

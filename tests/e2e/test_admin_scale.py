"""test_admin_scale - the admin API's listing over 10,000 queued messages:
filters and cursor paging are correct and complete.

One spated (queue_only = true, so nothing is ever tried and every message
keeps a known state) is shared by the test functions. It is given 10,000
messages over the HTTP injection API in batches: 2,000 first, then, 3 s
later, the other 8,000 (so older_than can split them), from 5 senders to 20
recipient domains, every tenth message with a second recipient in another
domain. Then about one message in 17 is frozen through the API and the last
domain is suspended, so the three states occur:

    frozen      the message was frozen
    scheduled   not frozen, every recipient in the suspended domain (held)
    ready       otherwise (queue_only mail is due: never tried, nothing held)

No message has a recipient in the suspended domain beside one elsewhere,
so that each message's state follows from its recipients alone (suspend
starts no delivery of queue_only mail: test_admin_queue_only.py).

Every expectation is computed here from what was injected, never from the
API's own answers; the set of ids is the injection's answers, checked once
against the main log's "<=" lines.
"""

import functools
import json
import math
import os
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import spatetest  # noqa: E402
import spatetest_admin  # noqa: E402
from spatetest import Env, TLD  # noqa: E402

TOKEN = "scale-t0ken"
N_OLD, N_ALL = 2000, 10000
NDOM = 20
DOMAINS = ["d%d.%s" % (k, TLD) for k in range(1, NDOM + 1)]
SENDERS = ["alice@one.example", "bob@one.example", "carol@two.example",
           "dave@three.example", "erin@four.example"]
SUSPENDED = DOMAINS[-1]
BATCH = 250
LIST = "/api/v1/admin/messages"
api = functools.partial(spatetest_admin.api, token=TOKEN, timeout=60)


def message(i):
    """The i-th message: its sender and recipients (a pure function of i)."""
    dom = i % NDOM
    rcpts = ["u%d@%s" % (i, DOMAINS[dom])]
    if i % 10 == 3:
        rcpts.append("v%d@%s" % (i, DOMAINS[(dom + 7) % NDOM]))
    return {"envelope_sender": SENDERS[(i // NDOM) % len(SENDERS)], "recipients": rcpts,
            "content": "Subject: scale %d\nMessage-ID: <%d@scale.test>\n\nbody %d\n" % (i, i, i)}


class World:
    """The shared daemon and what was put into it."""

    def __init__(self):
        self.env = env = Env("admin_scale")
        env.start_dns(env.mx_zone(NDOM))
        self.token_file = tokens = spatetest_admin.token_file(env, "admin %s\n" % TOKEN)
        conf = env.write_config(extra_main="queue_only = true\nadmin_token_file = %s" % tokens)
        env.start_spated(conf)
        self.url = env.http_url
        self.msgs = {}  # id -> {"i", "sender", "rcpts", "old", "frozen"}
        self._inject(range(0, N_OLD), old=True)
        self.t_old_end = time.time()
        time.sleep(3.0)
        self.t_new_start = time.time()
        self._inject(range(N_OLD, N_ALL), old=False)
        self._freeze_and_suspend()

    def _inject(self, indexes, old):
        def done(b, msgs, ans):
            for i, mid, m in zip(b, ans["ids"], msgs):
                self.msgs[mid] = {"i": i, "sender": m["envelope_sender"],
                                  "rcpts": m["recipients"], "old": old, "frozen": False}
        batches = [list(indexes)[k:k + BATCH] for k in range(0, len(indexes), BATCH)]
        spatetest_admin.inject_batches(self.url, batches, lambda b: [message(i) for i in b], done)

    def _freeze_and_suspend(self):
        frozen = sorted(m for m, v in self.msgs.items() if v["i"] % 17 == 0)
        st, ans = api(self.url, "/api/v1/admin/freeze", {"ids": frozen})
        assert (st, ans) == (200, {"affected": len(frozen)}), (st, ans)
        for m in frozen:
            self.msgs[m]["frozen"] = True
        st, ans = api(self.url, "/api/v1/admin/suspend", {"domain": SUSPENDED, "reason": "scale"})
        assert st == 200, ans

    def state(self, mid):
        v = self.msgs[mid]
        if v["frozen"]:
            return "frozen"
        if all(r.endswith("@" + SUSPENDED) for r in v["rcpts"]):
            return "scheduled"
        return "ready"

    def expect(self, domain=None, sender=None, state=None, old=None):
        """The ids a listing with these filters must give, ascending."""
        out = []
        for mid, v in self.msgs.items():
            if domain and not any(r.lower().endswith("@" + domain.lower()) for r in v["rcpts"]):
                continue
            if sender and (v["sender"].lower() != sender.lower() if sender[0] != "@" else
                           not v["sender"].lower().endswith(sender.lower())):
                continue
            if state and self.state(mid) != state:
                continue
            if old is not None and v["old"] != old:
                continue
            out.append(mid)
        return sorted(out)

    def pages(self, limit, **query):
        """Every page of a listing: [(ids, next_cursor)], checking each answer."""
        out, cursor = [], None
        while True:
            q = dict(query, limit=limit)
            if cursor:
                q["cursor"] = cursor
            st, page = api(self.url, LIST + "?" + urllib.parse.urlencode(q))
            assert st == 200, (q, st, page)
            ids = [m["id"] for m in page["messages"]]
            assert len(ids) <= limit, (q, len(ids))
            out.append((ids, page["next_cursor"], page["messages"]))
            if page["next_cursor"] is None:
                return out
            assert ids and page["next_cursor"] == ids[-1], (q, page["next_cursor"], ids[-1:])
            assert len(out) <= N_ALL + 1, "the listing does not end"
            cursor = page["next_cursor"]

    def listing(self, limit, **query):
        """All ids of a paged listing, after checking the paging itself: each id
        once, ascending across pages, full pages but the last."""
        pages = self.pages(limit, **query)
        ids = [i for p in pages for i in p[0]]
        assert ids == sorted(ids), "not ascending (%s)" % query
        assert len(set(ids)) == len(ids), "an id given twice (%s)" % query
        assert all(len(p[0]) == limit for p in pages[:-1]), [len(p[0]) for p in pages]
        assert len(pages) == max(1, math.ceil(len(ids) / limit)), (len(pages), len(ids), limit)
        return ids

    def close(self):
        self.env.close()


world = spatetest_admin.shared(World)


def check_equal(got, want, what):
    missing, extra = sorted(set(want) - set(got)), sorted(set(got) - set(want))
    assert got == want, "%s: %d ids, %d expected; missing %s; unexpected %s" % (
        what, len(got), len(want), missing[:5], extra[:5])


def test_injected_ids_match_the_log():
    w = world()
    arrivals = set(l.split()[2] for l in w.env.log_grep(r" <= "))
    assert len(w.msgs) == N_ALL
    assert arrivals == set(w.msgs), (len(arrivals), len(set(w.msgs) ^ arrivals))
    states = [w.state(m) for m in w.msgs]
    assert all(states.count(s) > 100 for s in ("ready", "scheduled", "frozen")), \
        {s: states.count(s) for s in set(states)}
    # queue_only: nothing was tried, whatever freeze and suspend did
    assert not w.env.log_grep(r" (=>|==|\*\*) "), w.env.log_grep(r" (=>|==|\*\*) ")[:3]


def test_whole_queue_pages_of_1000_and_500():
    w = world()
    want = w.expect()
    for limit in (1000, 500):
        check_equal(w.listing(limit), want, "limit=%d" % limit)
    # the default page is 100
    st, page = api(w.url, LIST)
    assert st == 200 and [m["id"] for m in page["messages"]] == want[:100], page["next_cursor"]
    assert page["next_cursor"] == want[99]


def test_entries_show_what_was_injected():
    w = world()
    for ids, _, entries in w.pages(1000):
        for e in entries:
            v = w.msgs[e["id"]]
            assert e["sender"] == v["sender"], e
            assert [r["address"] for r in e["recipients"]] == v["rcpts"], e
            assert all(r["state"] == "pending" and r["attempts"] == 0 for r in e["recipients"]), e
            assert e["state"] == w.state(e["id"]), (e, v)
            assert (e["next_attempt_at"] is None) == (e["state"] != "ready"), e
            assert e["age_s"] >= 0 and e["size"] > 0, e


def test_paging_limit_7_over_a_domain():
    w = world()
    d = DOMAINS[2]
    want = w.expect(domain=d)
    assert 400 < len(want) < 700, len(want)
    check_equal(w.listing(7, domain=d), want, "domain=%s limit=7" % d)


def test_paging_limit_1_over_domain_sender_state():
    w = world()
    q = {"domain": DOMAINS[4], "sender": SENDERS[1], "state": "ready"}
    want = w.expect(**q)
    assert 50 < len(want) < 150, len(want)
    check_equal(w.listing(1, **q), want, "limit=1 %s" % q)


def test_each_filter_alone():
    w = world()
    for d in DOMAINS:
        check_equal(w.listing(1000, domain=d), w.expect(domain=d), "domain=" + d)
    # a domain is matched without regard to case; a domain nobody writes to: empty
    check_equal(w.listing(1000, domain=DOMAINS[0].upper()), w.expect(domain=DOMAINS[0]), "upper")
    assert w.listing(1000, domain="nowhere." + TLD) == []
    for s in SENDERS:
        check_equal(w.listing(1000, sender=s), w.expect(sender=s), "sender=" + s)
    check_equal(w.listing(1000, sender=SENDERS[2].upper()), w.expect(sender=SENDERS[2]), "upper")
    for sd in ("@one.example", "@two.example"):
        check_equal(w.listing(1000, sender=sd), w.expect(sender=sd), "sender=" + sd)
    assert w.listing(1000, sender="@ne.example") == []  # a suffix is not the domain
    assert w.listing(1000, sender="nobody@one.example") == []
    for s in ("ready", "scheduled", "frozen"):
        check_equal(w.listing(1000, state=s), w.expect(state=s), "state=" + s)


def test_older_than_splits_the_two_injections():
    w = world()
    for attempt in range(3):
        t0 = time.time()
        n = int(t0) - int(w.t_old_end)  # every old message is at least this old
        got = w.listing(1000, older_than="%ds" % n)
        got_d = w.listing(1000, older_than="%ds" % n, domain=DOMAINS[5], state="ready")
        # and no new one is, as long as the listing ran within the same second count
        if int(time.time()) - int(w.t_new_start) < n:
            break
    else:
        raise AssertionError("the two injections are not far enough apart to test older_than")
    check_equal(got, w.expect(old=True), "older_than=%ds" % n)
    check_equal(got_d, w.expect(old=True, domain=DOMAINS[5], state="ready"), "older_than+domain")
    assert w.listing(1000, older_than="1h") == []
    check_equal(w.listing(1000, older_than="0s"), w.expect(), "older_than=0s")


def test_combined_filters():
    w = world()
    combos = [{"domain": DOMAINS[1], "sender": SENDERS[0]},
              {"domain": DOMAINS[8], "state": "frozen"},
              {"domain": SUSPENDED, "state": "scheduled"},
              {"domain": SUSPENDED, "state": "frozen"},
              {"domain": DOMAINS[0], "state": "ready"},  # some with a second recipient
              {"sender": "@one.example", "state": "frozen"},
              {"domain": DOMAINS[3], "sender": SENDERS[4], "state": "ready"}]
    for q in combos:
        want = w.expect(**q)
        assert want, q
        check_equal(w.listing(500, **q), want, str(q))


def test_spatectl_queue_agrees():
    w = world()
    for q in ({"domain": DOMAINS[6]}, {"domain": SUSPENDED, "state": "scheduled"}):
        args = ["--json", "queue"]
        for k, v in q.items():
            args += ["--" + k, v]
        rc, out, err = spatetest_admin.ctl(w.url, w.token_file, *args)
        assert rc == 0, err
        ids = [m["id"] for m in json.loads(out)["messages"]]
        check_equal(ids, w.listing(1000, **q), "spatectl %s" % q)
        check_equal(ids, w.expect(**q), "spatectl %s" % q)


def test_bad_arguments_are_400_naming_the_field():
    w = world()
    for bad in ("limit=0", "limit=1001", "limit=-1", "limit=abc", "limit=", "limit=10x",
                "cursor=short", "cursor=%21%21%21%21%21%21%21%21%21%21%21%21%21%21%21%21",
                "cursor=", "state=bogus", "state=READY", "state=",
                "older_than=x", "older_than=-5s", "older_than=", "older_than=5y",
                "domain=a%20b", "domain=", "sender=",
                "limit=%2B5", "limit=%205", "limit=5%20", "limit=+5", "limit=-0", "limit=0005x"):
        st, err = api(w.url, LIST + "?" + bad)
        assert st == 400, (bad, st, str(err)[:200])
        assert err["field"] == bad.split("=")[0] and err["error"], (bad, err)
    # each says what is allowed
    for bad, says in (("limit=%2B5", "limit must be an integer from 1 to 1000"),
                      ("state=READY", "state must be ready, scheduled or frozen"),
                      ("older_than=5y", "older_than must be a duration such as 90s")):
        st, err = api(w.url, LIST + "?" + bad)
        assert st == 400 and says in err["error"], (bad, err)
    # digits only, leading zeros included
    st, page = api(w.url, LIST + "?limit=0005")
    assert st == 200 and len(page["messages"]) == 5, (st, str(page)[:200])
    # the largest page is allowed
    st, page = api(w.url, LIST + "?limit=1000")
    assert st == 200 and len(page["messages"]) == 1000


def test_cursor_past_a_deleted_message():
    w = world()
    d = DOMAINS[9]
    want = w.expect(domain=d)
    st, p1 = api(w.url, LIST + "?limit=7&domain=" + d)
    cur = p1["next_cursor"]
    assert st == 200 and [m["id"] for m in p1["messages"]] == want[:7] and cur == want[6]
    st, ans = api(w.url, "/api/v1/admin/delete", {"ids": [cur], "reason": "test"})
    assert (st, ans) == (200, {"affected": 1}), ans
    del w.msgs[cur]
    assert api(w.url, LIST + "/" + cur)[0] == 404
    rest = w.listing(7, domain=d, cursor=cur)
    check_equal(rest, want[7:], "after the deleted cursor")
    # the same with a message deleted in the middle of a paged walk of the whole queue
    st, p1 = api(w.url, LIST + "?limit=500")
    cur = p1["next_cursor"]
    victim = [m for m in w.expect() if m > cur][0]  # the first id of the next page
    assert api(w.url, "/api/v1/admin/delete", {"ids": [cur, victim]})[1] == {"affected": 2}
    del w.msgs[cur], w.msgs[victim]
    rest = w.listing(500, cursor=cur)
    check_equal([m["id"] for m in p1["messages"]][:-1] + rest,
                [m for m in w.expect() if m < cur] + [m for m in w.expect() if m > cur], "walk")
    # a well-formed cursor before every id lists everything; after every id, nothing
    check_equal(w.listing(1000, cursor="0" * 16), w.expect(), "cursor 000...")
    st, page = api(w.url, LIST + "?cursor=" + "z" * 16)
    assert st == 200 and page == {"messages": [], "next_cursor": None}, page


if __name__ == "__main__":
    spatetest.main(globals())

"""bench_admin.py - the admin-load cases of perf/bench.py: what an operator's queue listing
and bulk suspend/resume cost the delivery of a draining queue.

Both cases are spate_drain_http (sinks stopped, --admin-n messages of --admin-size octets
injected over HTTP to the D domains, then the sinks continued), measured from the first
delivery at the sinks to the N-th:
  admin_idle   nothing else goes on
  admin_busy   from the first delivery to the last, two operators work through the real
               spatectl binary (no token: the HTTP API is on 127.0.0.1):
                 lister     "spatectl --json queue" (every page of the whole queue, 1000 a
                            page) once a second, the next at once when one takes longer
                 suspender  once a second, one bulk "spatectl suspend b1 ... bD/2" of the
                            first half of the domains (one request), then "spatectl resume"
                            of the same (--admin-load suspend-each: one spatectl call, one
                            request, per domain and verb, as before the domains lists)
The rounds alternate the two cases (--runs rounds). Figures per run: drain_span_msgs_per_s
(N / first to N-th delivery at the sinks, the headline), drain_msgs_per_s (from the
sinks' SIGCONT), spated CPU s per 1000 messages during that span and over the whole run,
and for admin_busy each listing's time, pages and messages, each suspend's and resume's
time (the spatectl process from start to exit), and the calls that failed. A listing's
pages are not timed one by one (spatectl reads them all): page_s is a listing's time over
its pages. --admin-load list or suspend runs only that operator (to see what each costs).
The ratio busy/idle is of the medians and, per round, of paired runs (goal:
at least 0.95)."""

import json
import os
import statistics
import subprocess
import threading
import time

from bench_util import *  # noqa: F401,F403
from bench_engines import Spate, case_engine, pct
from bench_report import summarize, fmt

ADMIN_CASES = ["admin_idle", "admin_busy"]
FIGURES_ADMIN = ["drain_span_msgs_per_s", "drain_msgs_per_s", "drain_cpu_s_per_1000",
                 "cpu_s_per_1000", "inject_msgs_per_s", "listings", "list_s_p50", "list_s_p99",
                 "page_s_p50", "page_s_p99", "suspend_s_p50", "suspend_s_p99", "resume_s_p50",
                 "resume_s_p99", "susp_cycles", "admin_failures"]


def ctl(env, *args):
    """Run spatectl against the bench's spated; (seconds, exit status, stdout, stderr)."""
    argv = [env.bin("spatectl"), "--url", "http://%s:%d" % SPATE_HTTP] + list(args)
    t0 = time.time()
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
    return time.time() - t0, p.returncode, p.stdout, p.stderr.decode(errors="replace")


class AdminLoad:
    """Waits for the first delivery, notes spated's CPU, runs the operators (busy only)
    until the sinks hold N, notes the CPU again; figures() once stopped."""

    def __init__(self, env, eng, sinks, n, busy):
        self.env, self.eng, self.sinks, self.n, self.busy = env, eng, sinks, n, busy
        self.halt = threading.Event()
        self.lock = threading.Lock()
        self.lists, self.susp, self.resm, self.cycles, self.failures = [], [], [], [], []
        self.cpu = [None, None]
        self.threads = [threading.Thread(target=self._watch, daemon=True)]
        self.threads[0].start()

    def _done(self):
        return self.sinks.count() >= self.n or self.halt.is_set() or not self.eng.alive()

    def _fail(self, what, rc, err):
        with self.lock:
            if len(self.failures) < 20:
                self.failures.append("%s: exit %d %s" % (what, rc, err.strip()[:200]))
            else:
                self.failures.append(what)

    def _every_second(self, fn):
        while not self._done():
            t0 = time.time()
            fn()
            rest = 1.0 - (time.time() - t0)
            if rest > 0 and not self._done():
                self.halt.wait(rest)

    def _list_once(self):
        s, rc, out, err = ctl(self.env, "--json", "queue")
        if rc != 0:
            return self._fail("queue", rc, err)
        try:
            ids = [m["id"] for m in json.loads(out)["messages"]]
        except (ValueError, KeyError):
            return self._fail("queue (not JSON)", rc, out[:200].decode(errors="replace"))
        if len(set(ids)) != len(ids) or ids != sorted(ids):
            self._fail("queue (ids repeated or out of order)", rc, "")
        pages = max(1, -(-len(ids) // 1000))  # the last page is the one with no cursor
        with self.lock:
            self.lists.append({"s": s, "messages": len(ids), "pages": pages})

    def _susp_once(self, each=False):
        t0 = time.time()
        doms = ["b%d.%s" % (k, ZONE) for k in range(1, self.env.args.domains // 2 + 1)]
        for verb, into in (("suspend", self.susp), ("resume", self.resm)):
            for group in ([[d] for d in doms] if each else [doms]):
                s, rc, out, err = ctl(self.env, verb, *group)
                if rc != 0:
                    self._fail("%s %s" % (verb, " ".join(group)), rc, err)
                with self.lock:
                    into.append(s)
        with self.lock:
            self.cycles.append(time.time() - t0)

    def _susp_each_once(self):
        self._susp_once(each=True)

    def _watch(self):
        while self.sinks.count() == 0 and not self.halt.is_set() and self.eng.alive():
            time.sleep(0.005)
        self.cpu[0] = self.eng.cg.usage_s()
        if self.busy and not self._done():
            ops = {"list": self._list_once, "suspend": self._susp_once,
                   "suspend-each": self._susp_each_once}
            for fn in (ops[o] for o in self.env.args.admin_load):
                t = threading.Thread(target=self._every_second, args=(fn,), daemon=True)
                t.start()
                self.threads.append(t)
        while not self._done():
            time.sleep(0.01)
        self.cpu[1] = self.eng.cg.usage_s()

    def stop(self):
        self.halt.set()
        for t in self.threads:
            t.join(timeout=150)

    def figures(self):
        f = {}
        first, done = self.sinks.first_time, self.sinks.target_time
        if first and done and done > first:
            f["drain_span_seconds"] = round(done - first, 4)
            f["drain_span_msgs_per_s"] = round(self.n / (done - first), 1)
        if None not in self.cpu:
            f["drain_cpu_s"] = round(self.cpu[1] - self.cpu[0], 3)
            f["drain_cpu_s_per_1000"] = round((self.cpu[1] - self.cpu[0]) / self.n * 1000, 4)
        if not self.busy:
            return f
        page_s = [x["s"] / x["pages"] for x in self.lists]
        for name, vals in (("list_s", [x["s"] for x in self.lists]), ("page_s", page_s),
                           ("suspend_s", self.susp), ("resume_s", self.resm),
                           ("cycle_s", self.cycles)):
            if vals:
                f[name + "_p50"] = round(statistics.median(vals), 4)
                f[name + "_p99"] = round(pct(vals, 99), 4)
                f[name + "_max"] = round(max(vals), 4)
        f.update({"listings": len(self.lists), "susp_cycles": len(self.cycles),
                  "suspends": len(self.susp), "resumes": len(self.resm),
                  "listed_messages": [x["messages"] for x in self.lists],
                  "listed_pages": [x["pages"] for x in self.lists],
                  "admin_failures": len(self.failures), "admin_failure_samples":
                  self.failures[:20]})
        return f


def case_admin(env, case, n, size, rep):
    """One drain run, with or without the operators."""
    loads = []

    def before(env, eng, rundir, sinks):
        loads.append(AdminLoad(env, eng, sinks, n, case == "admin_busy"))
        return {}
    v = {"label": "_" + case, "before": before}
    try:
        r = case_engine(env, Spate, n, size, rep, "http", True, v)
    finally:
        for ld in loads:
            ld.stop()
    if loads:
        r.update(loads[0].figures())
    if r.get("drain_seconds") and r.get("admin_failures"):
        env.problem(case, rep, "%d admin calls failed: %s" % (
            r["admin_failures"], "; ".join(r["admin_failure_samples"][:3])))
    return r


def paired(res, num, den, key):
    """ratio of the medians, and the median [min..max] of the per-round ratios"""
    def med(c):
        s = res[c]["summary"].get(key)
        return s["median"] if s else None
    a, b = med(num), med(den)
    out = {"ratio": round(a / b, 3) if a is not None and b else None}
    pr = [x[key] / y[key] for x, y in zip(res[num]["runs"], res[den]["runs"])
          if x.get(key) and y.get(key)]
    if pr:
        out["per_round"] = summarize([{"v": round(p, 3)} for p in pr], "v")
    return out


def run_admin(env, cases, out):
    """--runs rounds of the chosen admin cases in turn; the table and the ratio at the end."""
    a = env.args
    if not os.access(env.bin("spatectl"), os.X_OK):
        raise SetupError("no spatectl in %s (perf/bench.sh builds it)" % a.build)
    plan = [c for c in ADMIN_CASES if c in cases]
    res = {c: {"runs": []} for c in plan}
    for rep in range(a.runs):
        for case in plan:
            log("%s: N=%d size=%d run %d/%d" % (case, a.admin_n, a.admin_size, rep + 1, a.runs))
            r = case_admin(env, case, a.admin_n, a.admin_size, rep)
            log("    drain %s msg/s (first to last delivery %s), spated CPU %s s/1000 in the "
                "drain%s" % (r.get("drain_msgs_per_s"), r.get("drain_span_msgs_per_s"),
                             r.get("drain_cpu_s_per_1000"),
                             "" if case == "admin_idle" else "; %s listings (p50 %s s), "
                             "suspend p50 %s s, resume p50 %s s, %s failures" % (
                                 r.get("listings"), r.get("list_s_p50"), r.get("suspend_s_p50"),
                                 r.get("resume_s_p50"), r.get("admin_failures"))))
            res[case]["runs"].append(r)
    for v in res.values():
        v["summary"] = {k: summarize(v["runs"], k) for k in FIGURES_ADMIN
                        if summarize(v["runs"], k) is not None}
    ratios = {}
    if "admin_idle" in res and "admin_busy" in res:
        for key in ("drain_span_msgs_per_s", "drain_msgs_per_s", "drain_cpu_s_per_1000"):
            ratios[key] = paired(res, "admin_busy", "admin_idle", key)
    out.update({"n": a.admin_n, "size": a.admin_size, "runs": a.runs, "domains": a.domains,
                "busy_load": a.admin_load,
                "suspended_domains": a.domains // 2, "cases": res, "busy_over_idle": ratios})
    print_admin(out)


def print_admin(out):
    print("\n=== admin load: drain of N=%d x %d bytes to %d domains, median [min..max] of %d "
          "runs ===" % (out["n"], out["size"], out["domains"], out["runs"]))
    print("%-12s %-24s %-24s %-20s" % ("", "drain msg/s (1st..Nth)", "drain msg/s (SIGCONT)",
                                       "spated CPU s/1000"))
    for c, v in out["cases"].items():
        s = v["summary"]
        print("%-12s %-24s %-24s %-20s" % (c, fmt(s.get("drain_span_msgs_per_s")),
                                           fmt(s.get("drain_msgs_per_s")),
                                           fmt(s.get("drain_cpu_s_per_1000"), 3)))
    b = out["cases"].get("admin_busy", {}).get("summary", {})
    if b:
        print("admin_busy: %s listings per run, whole listing %s s (p99 %s), a page %s s "
              "(p99 %s); suspend %s s (p99 %s), resume %s s (p99 %s) per spatectl call; "
              "%s failed calls" % (
                  fmt(b.get("listings")), fmt(b.get("list_s_p50"), 3),
                  fmt(b.get("list_s_p99"), 3), fmt(b.get("page_s_p50"), 3),
                  fmt(b.get("page_s_p99"), 3), fmt(b.get("suspend_s_p50"), 4),
                  fmt(b.get("suspend_s_p99"), 4), fmt(b.get("resume_s_p50"), 4),
                  fmt(b.get("resume_s_p99"), 4), fmt(b.get("admin_failures"))))
    r = out["busy_over_idle"].get("drain_span_msgs_per_s")
    if r:
        print("busy/idle drain rate: %s (per round: %s), goal >= 0.95; CPU per message "
              "busy/idle %s" % (r["ratio"], fmt(r.get("per_round"), 3),
                                out["busy_over_idle"]["drain_cpu_s_per_1000"]["ratio"]))

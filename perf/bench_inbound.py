"""bench_inbound.py - the inbound cases of perf/bench.py: what the SMTP server accepts per
second with an empty RCPT policy and with a six-statement acl_smtp_rcpt, in clear text and
with STARTTLS on every connection.

spated runs with queue_only = true (nothing is delivered, the sinks are not started), so the
figure is pure acceptance: N / (the injector's first connect to the last 250 after DATA),
each 250 sent once the message is on disk (group commit), as in spate_drain_smtp. The cases
of one round run one after the other and the rounds alternate them, so that a slow spell of
the machine falls on every case alike."""

import os
import re
import time

from bench_util import *  # noqa: F401,F403
from bench_engines import Spate, run_inject
from bench_report import summarize, fmt
from bench_hard import make_cert

INBOUND_CASES = ["inbound_noacl", "inbound_acl6", "inbound_tls_noacl", "inbound_tls_acl6"]

# Six statements, every one evaluated for every recipient (none of them ends the ACL before
# the last): a hosts list that matches the client, a domain list that matches the recipient,
# a rate limit that is never reached (it is still computed and stored), verify = recipient
# (routed by the dnslookup router: an MX lookup through the listener's resolver, cached
# after the first of each domain), a header added, and the final accept.
ACL6_LISTS = ["hostlist bench_clients = 127.0.0.0/8",
              "domainlist bench_domains = *.%s" % ZONE,
              "acl_smtp_rcpt = check_rcpt"]
ACL6_STATEMENTS = [
    ("hosts", ["  require hosts = +bench_clients"]),
    ("domains", ["  require domains = +bench_domains"]),
    ("ratelimit", ["  deny    message = rate limit reached",
                   "          ratelimit = 1000000 / 1s / per_rcpt / $sender_host_address"]),
    ("verify", ["  require verify = recipient"]),
    ("add_header", ["  warn    add_header = X-Bench: $local_part"]),
    ("accept", ["  accept"]),
]
ACL6_NAMES = [name for name, _ in ACL6_STATEMENTS[:-1]]


def acl6(skip=()):
    """The ACL's main-section lines and section, without the statements named in skip
    (--inbound-acl-skip, to see what each one costs)."""
    lines = ACL6_LISTS + ["", "begin acl", "check_rcpt:"]
    for name, stmt in ACL6_STATEMENTS:
        if name not in skip:
            lines += stmt
    return lines + [""]


def inbound_extra(acl, tls, cert, key, skip=()):
    """spated main-section lines of a case (the ACL section after them)."""
    lines = ["queue_only = true"]
    if tls:
        lines += ["tls_certificate = %s" % cert, "tls_privatekey = %s" % key]
    return lines + (acl6(skip) if acl else [])


def count_in_spool(spool, needle):
    """How often needle occurs in the message bodies of the spool (its segment files)."""
    total = 0
    d = os.path.join(spool, "bodies")
    for name in os.listdir(d) if os.path.isdir(d) else []:
        with open(os.path.join(d, name), "rb") as f:
            total += f.read().count(needle)
    return total


def measure_inbound(env, case, n, size, rep, extra, inject_extra=(), run_id=None):
    """spated (main-section lines extra) holding everything, N messages injected over
    SMTP; the figures, with the spool's path under "_spool" (the caller removes it)."""
    rundir = env.rundir("%s-%d" % (case, rep))
    eng = Spate(env, rundir, False, extra)
    eng.start()
    time.sleep(0.5)
    cpu0, busy0, wall0 = eng.cg.usage_s(), machine_busy_s(), time.time()
    injcg = env.new_cgroup("client")
    inj = run_inject(env, "smtp", eng.inject_target("smtp"), n, size,
                     run_id or "%s.%d" % (case, rep), injcg, inject_extra)
    cpu1, busy1, wall1 = eng.cg.usage_s(), machine_busy_s(), time.time()
    time.sleep(0.3)
    snap = eng.snapshot() if eng.alive() else {}
    died = None if eng.alive() else eng.why_stopped()
    eng.stop()
    d = eng.deliveries() or {"accepted": 0, "delivered": 0}
    res = {"n": n, "size": size, "inject": inj, "inject_msgs_per_s": inj.get("msgs_per_s"),
           "inject_seconds": inj.get("seconds"), "accepted_logged": d["accepted"],
           "delivered_logged": d["delivered"], "tls_sessions": inj.get("tls_sessions"),
           "inject_cpu_s": injcg.usage_s(), "loadavg_1m": os.getloadavg()[0],
           "_spool": eng.spool}
    res.update(snap)
    if cpu0 is not None and cpu1 is not None:
        res["cpu_s"] = round(cpu1 - cpu0, 3)
        res["cpu_s_per_1000"] = round((cpu1 - cpu0) / n * 1000, 4)
        ours = (cpu1 - cpu0) + (injcg.usage_s() or 0)
        res["other_cpu_share"] = round(max(0.0, busy1 - busy0 - ours) /
                                       ((wall1 - wall0) * os.cpu_count()), 3)
    inbound_checks(env, case, rep, res, n, died, False, False)
    return res


def case_inbound(env, case, n, size, rep):
    """One inbound run: spated holding everything, N messages injected over SMTP."""
    acl, tls = case.endswith("acl6"), "_tls_" in case
    cert, key = make_cert(env) if tls else (None, None)
    skip = env.args.inbound_acl_skip
    res = measure_inbound(env, case, n, size, rep, inbound_extra(acl, tls, cert, key, skip),
                          ["--starttls"] if tls else [])
    spool = res.pop("_spool")
    res["tls"] = tls
    res["acl_statements"] = len(ACL6_STATEMENTS) - len(skip) if acl else 0
    hdr = acl and "add_header" not in skip
    res["x_bench_headers"] = count_in_spool(spool, b"\r\nX-Bench: u") if hdr else None
    if hdr and res["x_bench_headers"] != n:
        env.problem(case, rep, "the ACL's X-Bench header is in %d of %d spooled messages" % (
            res["x_bench_headers"], n))
    if tls and not res["tls_sessions"]:
        env.problem(case, rep, "no STARTTLS session was made")
    return res


def inbound_checks(env, case, rep, res, n, died, hdr, tls):
    """Everything acknowledged, logged once, held; the header and the TLS sessions there."""
    inj = res["inject"]
    if died:
        env.problem(case, rep, "spated stopped during the run: %s" % died)
    if inj.get("acked") != n:
        env.problem(case, rep, "injection acknowledged %s of %d (%s)" % (
            inj.get("acked"), n, inj.get("error") or "failed=%s" % inj.get("failed")))
    if res["accepted_logged"] != n:
        env.problem(case, rep, "spated logged %d arrivals for %d messages" % (
            res["accepted_logged"], n))
    if res["delivered_logged"]:
        env.problem(case, rep, "%d deliveries while queue_only held the mail" %
                    res["delivered_logged"])
    if hdr and res["x_bench_headers"] != n:
        env.problem(case, rep, "the ACL's X-Bench header is in %d of %d spooled messages" % (
            res["x_bench_headers"], n))
    if tls and not res["tls_sessions"]:
        env.problem(case, rep, "no STARTTLS session was made")


INBOUND_FIGURES = ["inject_msgs_per_s", "cpu_s_per_1000", "inject_cpu_s", "tls_sessions",
                   "other_cpu_share", "spated_vmhwm_mb"]


def ratio(a, b):
    return round(a / b, 3) if a is not None and b else None


def inbound_ratios(cases, runs):
    """Ratios of the medians, and the median of the ratios within each round."""
    def med(case, key):
        s = (cases.get(case) or {}).get("summary", {}).get(key)
        return s["median"] if s else None
    out = {}
    for name, num, den in (("acl6/noacl", "inbound_acl6", "inbound_noacl"),
                           ("tls_acl6/tls_noacl", "inbound_tls_acl6", "inbound_tls_noacl"),
                           ("tls_noacl/noacl", "inbound_tls_noacl", "inbound_noacl")):
        r = {}
        for key in ("inject_msgs_per_s", "cpu_s_per_1000"):
            r[key] = ratio(med(num, key), med(den, key))
            paired = [ratio(a.get(key), b.get(key)) for a, b in
                      zip((cases.get(num) or {}).get("runs", []),
                          (cases.get(den) or {}).get("runs", []))]
            paired = [p for p in paired if p is not None]
            if paired:
                r[key + "_paired"] = summarize([{"v": p} for p in paired], "v")
        out[name] = r
    return out


def run_inbound(env, cases, out):
    """The inbound cases, --runs rounds of all of them in turn; a table at the end."""
    a = env.args
    plan = [c for c in INBOUND_CASES if c in cases]
    res = {c: {"runs": []} for c in plan}
    for rep in range(a.runs):
        for case in plan:
            log("%s: N=%d size=%d run %d/%d" % (case, a.inbound_n, a.inbound_size, rep + 1,
                                                a.runs))
            r = case_inbound(env, case, a.inbound_n, a.inbound_size, rep)
            log("    %s msg/s, spated CPU %s s/1000" % (r.get("inject_msgs_per_s"),
                                                        r.get("cpu_s_per_1000")))
            res[case]["runs"].append(r)
    for c in res.values():
        c["summary"] = {k: summarize(c["runs"], k) for k in INBOUND_FIGURES
                        if summarize(c["runs"], k) is not None}
    out.update({"n": a.inbound_n, "size": a.inbound_size, "smtp_conns": a.smtp_conns,
                "runs": a.runs, "acl": acl6(a.inbound_acl_skip),
                "acl_skipped": a.inbound_acl_skip, "cases": res,
                "ratios": inbound_ratios(res, a.runs)})
    print_inbound(out)


def print_inbound(out):
    cases, r = out["cases"], out["ratios"]
    print("\n=== inbound: N=%d x %d bytes over %d SMTP connections, queue_only, median "
          "[min..max] of %d runs ===" % (out["n"], out["size"], out["smtp_conns"], out["runs"]))
    print("%-20s %-26s %-24s %s" % ("", "accepted (msg/s)", "spated CPU s/1000", "TLS sessions"))
    for c in INBOUND_CASES:
        if c in cases:
            s = cases[c]["summary"]
            print("%-20s %-26s %-24s %s" % (c, fmt(s.get("inject_msgs_per_s")),
                                            fmt(s.get("cpu_s_per_1000"), 3),
                                            fmt(s.get("tls_sessions"))))
    for name, v in r.items():
        if v.get("inject_msgs_per_s") is None:
            continue
        p = v.get("inject_msgs_per_s_paired")
        print("%-20s msg/s %s (per round: %s), CPU %s" % (
            name, v["inject_msgs_per_s"], fmt(p, 3), v.get("cpu_s_per_1000")))
    a = r["acl6/noacl"].get("inject_msgs_per_s")
    t = r["tls_acl6/tls_noacl"].get("inject_msgs_per_s")
    skip = out["acl_skipped"]
    print("the %d-statement RCPT ACL%s keeps %s of the throughput in clear text and %s with "
          "STARTTLS (goal: >= 0.9, the ACL costing under 10%%)" % (
              len(ACL6_STATEMENTS) - len(skip), " (without %s)" % ", ".join(skip) if skip else "",
              "-" if a is None else a, "-" if t is None else t))

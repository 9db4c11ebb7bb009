#!/usr/bin/env python3
"""bench.py - spate next to Postfix and the protocol ceiling, on one machine, in one run.

SYNOPSIS
    perf/bench.sh [--quick] [--workload N:SIZE ...] [--runs R] [--sink postfix|spate]
                  [--sink-store] [--only CASES | --hard] [--out PATH] [--keep] [...]
    python3 perf/bench.py --build DIR [same options]     (root; re-executes itself
                                                           under unshare --net --mount)

DESCRIPTION
    Everything runs in a private network and mount namespace: loopback only, port 53
    and 25 free to use, and /etc/resolv.conf bind-mounted to "nameserver 127.0.0.1" so
    that Postfix (libc resolver) and spate (dns_servers = 127.0.0.1:53) resolve through
    the same nsd. nsd serves D domains bK.bench-test, each "MX 10 mx.bK.bench-test."
    with mx.bK pointing at one of S sink addresses 127.0.2.1..S (port 25), each served
    by its own sink process (Postfix smtp-sink, or spate-sink with --sink spate).

    For each workload (N messages of SIZE octets, one recipient each, spread over the
    D domains) and each repetition it runs these cases, each on fresh sinks and a fresh
    spool or queue on the real disk (under --workdir, default /var/tmp):
      ceiling           smtp-source -d (connections reused) -> the sinks, one per sink
      ceiling_newconn   the same without -d (a connection per message)
      ceiling_inject    spate-inject smtp -> the sinks (what the load generator can do)
      spate_e2e_smtp    spated running, sinks up; spate-inject over SMTP (20 pipelined
                        connections): injection rate, end to end, latency, CPU, RSS
      spate_e2e_http    the same with HTTP batches (-b 100, 4 connections)
      spate_drain_smtp  sinks stopped (SIGSTOP: connections are accepted by the kernel
                        but not answered); inject everything over SMTP (durable
                        injection with no delivery competing), then SIGCONT the sinks:
                        drain = N / (time from SIGCONT to the N-th message at the sinks)
      spate_drain_http  the same, injecting over HTTP
      spate_drain_redis as spate_drain_http, with a transport event_action that records
                        every delivery in a redis-server (RPUSH, the issue's example);
                        the run checks that Redis holds exactly N entries
      postfix_e2e       Postfix (private instance) with the same injection over SMTP
      postfix_drain     as spate_drain_smtp
    Every run checks that the sinks received exactly N messages and the engine logged N
    deliveries; anything else is listed under "problems" and printed loudly, and the exit
    status is 1.

    The hard cases (bench_hard.py; --hard runs only these, --only picks any of them) run
    after the workloads, with their own sizes (--hard-n: 20000, --quick 2000):
      isolation         healthy e2e rate alone and after --bad-msgs messages to one of six
                        kinds of bad destination (tarpit, syndrop, greet421, rcpt451, slow,
                        refused), for each engine; ratios beside/alone
      dead_mx           spate: a domain with MX 10 dropping SYNs and MX 20 healthy, against
                        the same with only the MX 20, once the first message got through
      tls               each engine e2e and drain to spate-sinks with and without STARTTLS
      fanout            one message to --fanout-rcpts recipients over --fanout-domains
                        domains, by HTTP and SMTP (spate) and SMTP (Postfix)
      queue_scale       spate: --queue-n messages held with queue_only, memory and spool per
                        message, SIGKILL, restart with -qf, first delivery and drain

    The inbound cases (bench_inbound.py) measure acceptance only: spated with queue_only,
    --inbound-n messages (20000; --quick 5000) of --inbound-size octets over --smtp-conns
    connections, --runs rounds of the four cases in turn:
      inbound_noacl     no acl_smtp_rcpt (the default policy: relay_from_hosts)
      inbound_acl6      a 6-statement acl_smtp_rcpt: hosts, domains, ratelimit, verify =
                        recipient, add_header, accept
      inbound_tls_noacl, inbound_tls_acl6   the same with STARTTLS on every connection

    The DKIM cases (bench_dkim.py) run --dkim-n messages (20000; --quick 5000) of
    --dkim-size octets, --runs rounds of them in turn: dkim_e2e_none, dkim_e2e_rsa,
    dkim_e2e_ed25519 (end to end as spate_e2e_smtp, the smtp transport signing with
    RSA-2048, Ed25519 or not at all) and auth_in_none, auth_in_spf_dkim (acceptance as the
    inbound cases, signed messages with SPF and DKIM evaluated and the
    Authentication-Results header added, or neither).

    The admin cases (bench_admin.py) drain --admin-n messages (20000; --quick 5000) as
    spate_drain_http does, --runs rounds of the two in turn: admin_idle (nothing else) and
    admin_busy (from the first delivery to the last, "spatectl --json queue" lists the whole
    queue every second and spatectl suspends then resumes half the domains every second);
    the figure is N / (first to N-th delivery at the sinks) and the ratio busy/idle.

    Figures are written to --out (default perf/results/<date>.json) and printed as a table
    of median [min..max] over the repetitions; see perf/README.md for what each means.

DIAGNOSTICS
    Exit 0: every run delivered exactly N. Exit 1: a run lost, duplicated or failed to
    deliver messages, or timed out. Exit 2: set-up error (not root, a tool missing, a
    server that would not start). On any exit every process started is killed, the
    cgroups are removed, and the work directory is removed unless --keep.
"""

import argparse
import datetime
import json
import os
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_util import *  # noqa: E402,F401,F403
from bench_engines import *  # noqa: E402,F401,F403
from bench_report import *  # noqa: E402,F401,F403
from bench_hard import *  # noqa: E402,F401,F403
from bench_inbound import ACL6_NAMES, INBOUND_CASES, run_inbound  # noqa: E402  (the inbound cases)
from bench_dkim import DKIM_CASES, dkim_setup, run_dkim  # noqa: E402  (DKIM signing, SPF+DKIM in)
from bench_admin import ADMIN_CASES, run_admin  # noqa: E402  (drain under operator load)


class Env:
    def __init__(self, args):
        self.args = args
        self.reaper = Reaper()
        self.problems = []
        self.notes = []
        base = args.workdir
        os.makedirs(base, exist_ok=True)
        self.workdir = os.path.join(base, "spate-bench-%s-%d" % (
            time.strftime("%Y%m%d-%H%M%S"), os.getpid()))
        os.makedirs(self.workdir)
        os.chmod(self.workdir, 0o755)
        self.cg_parent = cgroup_parent()
        self.cgs = []
        self._runs = 0
        self.blackhole = False

    def sink_ip(self, i):
        return "127.0.2.%d" % (i + 1)

    def bin(self, rel):
        return os.path.join(self.args.build, rel)

    def rundir(self, name):
        self._runs += 1
        d = os.path.join(self.workdir, "%03d-%s" % (self._runs, name))
        os.makedirs(d)
        os.chmod(d, 0o755)
        return d

    def new_cgroup(self, name):
        self._runs += 1
        cg = CGroup(self.cg_parent, "%s-%d" % (name, self._runs))
        self.reaper.cgroups.append(cg)
        return cg

    def problem(self, case, rep, what):
        msg = "%s run %d: %s" % (case, rep + 1, what)
        self.problems.append(msg)
        log("!!! PROBLEM: " + msg)

    def check(self, case, rep, res, n, at_sinks, logged, ok):
        if not ok:
            self.problem(case, rep, "timed out or stalled with %d of %d at the sinks" %
                         (at_sinks, n))
        if at_sinks < n:
            self.problem(case, rep, "NOT DELIVERED: sinks received %d of %d" % (at_sinks, n))
        elif at_sinks > n:
            self.problem(case, rep, "DUPLICATED: sinks received %d for %d sent" % (at_sinks, n))
        if logged is not None and logged != n:
            self.problem(case, rep, "engine logged %d deliveries for %d messages" % (logged, n))
        if res.get("duplicate_deliveries_logged"):
            self.problem(case, rep, "engine logged %d duplicate deliveries" %
                         res["duplicate_deliveries_logged"])
        if res.get("stored_duplicate_message_ids"):
            self.problem(case, rep, "sinks stored %d duplicate Message-IDs" %
                         res["stored_duplicate_message_ids"])
        for s in res.get("log_samples") or []:
            log("    log: " + s)

    def cleanup(self):
        self.reaper.cleanup()
        if self.cg_parent:
            try:
                os.rmdir(self.cg_parent)
            except OSError:
                pass
        if not self.args.keep:
            shutil.rmtree(self.workdir, ignore_errors=True)
        else:
            log("work directory kept: %s" % self.workdir)


def run_engine_case(env, case, n, size, rep):
    """One engine run; run again once if something outside the benchmark stopped the
    engine with SIGTERM (the attempt is kept in the JSON, its problems become a note)."""
    cls = (SpateRedis if case == "spate_drain_redis" else
           Spate if case.startswith("spate") else Postfix)
    mode = "http" if cls is SpateRedis else case.rsplit("_", 1)[1] if cls is Spate else "smtp"
    drain = "_drain" in case
    k = len(env.problems)
    r = case_engine(env, cls, n, size, rep, mode, drain)
    if not r.get("external_stop"):
        return r
    moved = env.problems[k:]
    del env.problems[k:]
    env.notes.append("%s run %d: repeated, the first attempt was stopped by a SIGTERM from "
                     "outside the benchmark (%s)" % (case, rep + 1, "; ".join(moved)))
    log("!!! %s stopped by a SIGTERM the benchmark did not send; running it again" % cls.name)
    again = case_engine(env, cls, n, size, rep, mode, drain)
    again["discarded_attempt"] = r
    return again


def run_workload(env, n, size, cases):
    """Every case of one workload, repeated; their summaries and the headline table."""
    a = env.args
    res = {}
    plan = [c for c in ALL_CASES if c in cases]
    for rep in range(a.runs):
        for case in plan:
            log("%s: N=%d size=%d run %d/%d" % (case, n, size, rep + 1, a.runs))
            if case.startswith("ceiling"):
                r = case_ceiling(env, n, size, rep, case)
            else:
                r = run_engine_case(env, case, n, size, rep)
            brief = {k: r.get(k) for k in ("msgs_per_s", "inject_msgs_per_s", "e2e_msgs_per_s",
                                           "drain_msgs_per_s", "latency_p99_ms",
                                           "cpu_s_per_1000", "peak_rss_mb")
                     if r.get(k) is not None}
            log("    %s" % json.dumps(brief))
            res.setdefault(case, {"runs": []})["runs"].append(r)
    for case, c in res.items():
        c["summary"] = {k: summarize(c["runs"], k) for k in FIGURES
                        if summarize(c["runs"], k) is not None}
    wl = {"n": n, "size": size, "domains": a.domains, "sinks": a.sinks, "sink": a.sink,
          "runs": a.runs, "cases": res}
    wl["headline"] = headline(res)
    print_table(wl, wl["headline"])
    sys.stdout.flush()
    return wl


def run_hard(env, cases, out):
    """The hard cases, each repeated --runs times; figures summarized, a table each."""
    for case in cases:
        runs, figs = [], []
        out[case] = {"runs": runs, "figures": figs}
        for rep in range(env.args.runs):
            log("%s: run %d/%d" % (case, rep + 1, env.args.runs))
            detail, fig = HARD_RUNNERS[case](env, rep)
            runs.append(detail)
            figs.append(fig)
        keys = sorted(set(k for f in figs for k in f))
        out[case]["summary"] = {k: summarize(figs, k) for k in keys
                                if summarize(figs, k) is not None}
        print_hard(case, out[case], env.args)
        sys.stdout.flush()


def parse_args(argv):
    p = argparse.ArgumentParser(description="spate vs Postfix vs the protocol ceiling")
    p.add_argument("--quick", action="store_true",
                   help="N=5000 x 2 KB and N=1000 x 50 KB, one run each")
    p.add_argument("--workload", action="append", default=[], metavar="N:SIZE",
                   help="a workload (repeatable); default 50000:2048 and 10000:51200")
    p.add_argument("--runs", type=int, default=None, help="repetitions (default 3; --quick 1)")
    p.add_argument("--only", default=",".join(ALL_CASES + HARD_CASES + INBOUND_CASES + DKIM_CASES + ADMIN_CASES),
                   help="comma-separated cases to run (default all): " +
                   ",".join(ALL_CASES + HARD_CASES + INBOUND_CASES + DKIM_CASES + ADMIN_CASES))
    p.add_argument("--hard", action="store_true",
                   help="only the hard cases: --only " + ",".join(HARD_CASES))
    p.add_argument("--hard-n", type=int, default=None,
                   help="healthy messages in isolation, dead_mx and tls (20000; --quick 2000)")
    p.add_argument("--hard-size", type=int, default=2048, help="message size, hard cases (2048)")
    p.add_argument("--hard-engines", default="spate,postfix",
                   help="engines of isolation, tls and fanout (spate,postfix)")
    p.add_argument("--bad-kinds", default=",".join(BAD_KINDS),
                   help="bad destinations of isolation (default all): " + ",".join(BAD_KINDS))
    p.add_argument("--bad-msgs", type=int, default=300,
                   help="messages to the bad destinations, queued first (300)")
    p.add_argument("--bad-domains", type=int, default=10, help="bad domains per kind (10)")
    p.add_argument("--bad-lead", type=float, default=1.0,
                   help="seconds between the bad mail and the healthy workload (1)")
    p.add_argument("--fanout-rcpts", type=int, default=10000, help="fanout recipients (10000)")
    p.add_argument("--fanout-domains", type=int, default=1000, help="fanout domains (1000)")
    p.add_argument("--fanout-smtp-rcpts", type=int, default=1000,
                   help="fanout: most recipients the SMTP client sends in one transaction "
                   "(1000, spated's and Postfix's limit)")
    p.add_argument("--queue-n", type=int, default=None,
                   help="queue_scale messages (1000000; --quick 100000)")
    p.add_argument("--inbound-n", type=int, default=None,
                   help="messages per inbound case (20000; --quick 5000)")
    p.add_argument("--inbound-size", type=int, default=2048,
                   help="message size, inbound cases (2048)")
    p.add_argument("--inbound-acl-skip", default="", metavar="NAMES",
                   help="leave these statements out of the inbound ACL, to see what each "
                   "costs: " + ",".join(ACL6_NAMES))
    p.add_argument("--dkim-n", type=int, default=None,
                   help="messages per DKIM case (20000; --quick 5000)")
    p.add_argument("--dkim-size", type=int, default=2048, help="message size, DKIM cases (2048)")
    p.add_argument("--admin-n", type=int, default=None,
                   help="messages per admin case (20000; --quick 5000)")
    p.add_argument("--admin-size", type=int, default=2048, help="message size, admin cases (2048)")
    p.add_argument("--admin-load", default="list,suspend",
                   help="what admin_busy runs: list, suspend (one bulk call per verb), "
                        "suspend-each (one call per domain), comma-separated (list,suspend)")
    p.add_argument("--sink", choices=["postfix", "spate"], default="postfix",
                   help="sink program: Postfix smtp-sink (default) or spate-sink")
    p.add_argument("--sink-store", action="store_true",
                   help="with --sink spate: store messages and check Message-IDs for duplicates")
    p.add_argument("--sinks", type=int, default=4, help="sink processes/addresses (default 4)")
    p.add_argument("--domains", type=int, default=100, help="destination domains (default 100)")
    p.add_argument("--worker-threads", type=int, default=2, help="spate worker_threads (2)")
    p.add_argument("--smtp-conns", type=int, default=20, help="SMTP injection connections (20)")
    p.add_argument("--http-conns", type=int, default=4, help="HTTP injection connections (4)")
    p.add_argument("--http-batch", type=int, default=100, help="messages per HTTP request (100)")
    p.add_argument("--ceiling-sessions", type=int, default=40,
                   help="smtp-source sessions in all, split over the sinks (40)")
    p.add_argument("--phase-timeout", type=int, default=600,
                   help="limit in seconds for one injection or one drain (600)")
    p.add_argument("--stall", type=int, default=60,
                   help="give up a run when the sinks got nothing new for this long (60 s)")
    p.add_argument("--spate-opt", action="append", default=[], metavar="LINE",
                   help="extra main-section line for spated.conf (repeatable)")
    p.add_argument("--postfix-opt", action="append", default=[], metavar="NAME=VALUE",
                   help="extra main.cf setting for Postfix (repeatable)")
    p.add_argument("--build", default=os.environ.get("SPATE_BUILD", os.path.join(ROOT, "build")),
                   help="build directory holding spated and perf/spate-inject, perf/spate-sink")
    p.add_argument("--workdir", default="/var/tmp",
                   help="where spools and queues go; must be a real disk (default /var/tmp)")
    p.add_argument("--out", default=None, help="JSON results (default perf/results/<date>.json)")
    p.add_argument("--keep", action="store_true", help="keep the work directory")
    p.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.runs is None:
        a.runs = 1 if a.quick else 3
    if not a.workload:
        a.workload = ["5000:2048", "1000:51200"] if a.quick else ["50000:2048", "10000:51200"]
    wls = []
    for w in a.workload:
        try:
            n, s = (int(x) for x in w.split(":"))
        except ValueError:
            p.error("bad --workload %r (want N:SIZE)" % w)
        if not (1 <= n <= 10000000 and 300 <= s <= 50 << 20):
            p.error("--workload %r out of range" % w)
        wls.append((n, s))
    a.workloads = wls
    if a.hard:
        a.only = ",".join(HARD_CASES)
    a.cases = [c.strip() for c in a.only.split(",") if c.strip()]
    for c in a.cases:
        if c not in ALL_CASES + HARD_CASES + INBOUND_CASES + DKIM_CASES + ADMIN_CASES:
            p.error("unknown case %r" % c)
    if a.hard_n is None:
        a.hard_n = 2000 if a.quick else 20000
    if a.inbound_n is None:
        a.inbound_n = 5000 if a.quick else 20000
    if a.dkim_n is None:
        a.dkim_n = 5000 if a.quick else 20000
    if a.admin_n is None:
        a.admin_n = 5000 if a.quick else 20000
    if not (1 <= a.admin_n <= 10000000 and 300 <= a.admin_size <= 50 << 20):
        p.error("--admin-n 1..10000000, --admin-size 300..50M")
    a.admin_load = [x.strip() for x in a.admin_load.split(",") if x.strip()]
    if not a.admin_load or any(x not in ("list", "suspend", "suspend-each") for x in a.admin_load):
        p.error("--admin-load: a list of list, suspend, suspend-each")
    if not (1 <= a.inbound_n <= 10000000 and 300 <= a.inbound_size <= 50 << 20):
        p.error("--inbound-n 1..10000000, --inbound-size 300..50M")
    a.inbound_acl_skip = [x.strip() for x in a.inbound_acl_skip.split(",") if x.strip()]
    if any(x not in ACL6_NAMES for x in a.inbound_acl_skip):
        p.error("--inbound-acl-skip: some of " + ",".join(ACL6_NAMES))
    if a.queue_n is None:
        a.queue_n = 100000 if a.quick else 1000000
    a.hard_engines = [e.strip() for e in a.hard_engines.split(",") if e.strip()]
    a.bad_kinds = [k.strip() for k in a.bad_kinds.split(",") if k.strip()]
    if not a.hard_engines or any(e not in ("spate", "postfix") for e in a.hard_engines):
        p.error("--hard-engines: spate, postfix or both")
    if any(k not in BAD_KINDS for k in a.bad_kinds):
        p.error("--bad-kinds: some of " + ",".join(BAD_KINDS))
    if not (1 <= a.hard_n <= 10000000 and 1 <= a.queue_n <= 10000000 and
            300 <= a.hard_size <= 50 << 20 and 1 <= a.bad_msgs <= 100000 and
            1 <= a.bad_domains <= 1000 and 0 <= a.bad_lead <= 60):
        p.error("a hard-case size is out of range")
    if not (1 <= a.fanout_rcpts <= 10000 and 1 <= a.fanout_domains <= 10000 and
            1 <= a.fanout_smtp_rcpts <= 10000):
        p.error("--fanout-rcpts 1..10000 (spated's HTTP limit), --fanout-domains 1..10000")
    if not (1 <= a.sinks <= 250 and 1 <= a.domains <= 10000 and 1 <= a.runs <= 20):
        p.error("--sinks 1..250, --domains 1..10000, --runs 1..20")
    if a.sink_store and a.sink != "spate":
        p.error("--sink-store needs --sink spate")
    return a


def enter_namespace(argv):
    """Re-run this script in a private network and mount namespace."""
    if shutil.which("unshare") is None:
        raise SetupError("unshare (util-linux) is needed")
    cmd = ["unshare", "--net", "--mount", "--propagation", "private", "--",
           sys.executable, os.path.abspath(__file__), "--inside"] + argv
    os.execvp(cmd[0], cmd)


def setup_namespace(env):
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True, timeout=10)
    rc = os.path.join(env.workdir, "resolv.conf")
    with open(rc, "w") as f:
        f.write("nameserver %s\noptions attempts:2 timeout:2\n" % DNS_IP)
    os.chmod(rc, 0o644)
    subprocess.run(["mount", "--bind", rc, "/etc/resolv.conf"], check=True, timeout=10)


def check_tools(a):
    need = ["nsd", "drill", "smtp-sink", "smtp-source", "postfix", "postconf", "ip", "mount"]
    missing = [t for t in need if shutil.which(t) is None and
               not os.path.exists(os.path.join("/usr/sbin", t))]
    for rel in ("spated", "perf/spate-inject", "perf/spate-sink"):
        if not os.access(os.path.join(a.build, rel), os.X_OK):
            missing.append(os.path.join(a.build, rel))
    if missing:
        raise SetupError("missing: %s (scripts/setup-deps.sh installs the tools; "
                         "perf/bench.sh builds spate)" % ", ".join(missing))


def main(argv):
    a = parse_args(argv)
    if os.geteuid() != 0:
        sys.stderr.write("bench: must run as root (namespaces, port 25/53, cgroups)\n")
        return 2
    os.environ["PATH"] = os.environ.get("PATH", "") + ":/usr/sbin:/sbin"
    if not a.inside:
        enter_namespace(argv)
    check_tools(a)
    env = Env(a)

    def on_signal(sig, frame):
        raise KeyboardInterrupt("signal %d" % sig)
    signal.signal(signal.SIGTERM, on_signal)
    if signal.getsignal(signal.SIGHUP) != signal.SIG_IGN:  # keep nohup's choice
        signal.signal(signal.SIGHUP, on_signal)
    started = time.time()
    result = {"command": os.environ.get("SPATE_BENCH_COMMAND") or " ".join(
        ["perf/bench.py"] + argv), "argv": argv,
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": machine_info(a),
        "settings": {k: v for k, v in vars(a).items() if k not in ("inside",)},
        "workloads": [], "problems": env.problems, "notes": env.notes}
    try:
        setup_namespace(env)
        hard = [c for c in HARD_CASES if c in a.cases]
        if "isolation" in hard or "dead_mx" in hard:
            env.blackhole = setup_blackhole(env)
        extra = list(hard_zone_records(env) if hard else ())
        if any(c in DKIM_CASES for c in a.cases):
            extra += dkim_setup(env)  # keys, their records, the sender's SPF record
        start_dns(env, max(a.domains, a.fanout_domains if "fanout" in hard else 0), extra)
        if any(c in ALL_CASES for c in a.cases):
            for n, s in a.workloads:
                result["workloads"].append(run_workload(env, n, s, a.cases))
        if hard:
            result["hard"] = {}
            run_hard(env, hard, result["hard"])
        if any(c in INBOUND_CASES for c in a.cases):
            result["inbound"] = {}
            run_inbound(env, a.cases, result["inbound"])
        if any(c in DKIM_CASES for c in a.cases):
            result["dkim"] = {}
            run_dkim(env, a.cases, result["dkim"])
        if any(c in ADMIN_CASES for c in a.cases):
            result["admin"] = {}
            run_admin(env, a.cases, result["admin"])
    except SetupError as e:
        log("set-up failed: %s" % e)
        result["setup_error"] = str(e)
        env.args.keep = True
        return 2
    except KeyboardInterrupt as e:
        log("interrupted: %s" % e)
        result["interrupted"] = True
        return 2
    finally:
        env.cleanup()
        result["seconds"] = round(time.time() - started, 1)
        out = a.out or os.path.join(ROOT, "perf", "results",
                                    time.strftime("%Y-%m-%d-%H%M%S") + ".json")
        os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
        with open(out, "w") as f:
            json.dump(result, f, indent=1, sort_keys=False)
            f.write("\n")
        log("results written to %s (%.0f s)" % (out, result["seconds"]))
    if env.problems:
        log("!!! %d PROBLEM(S):" % len(env.problems))
        for p in env.problems:
            log("!!!   " + p)
        return 1
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except SetupError as e:
        sys.stderr.write("bench: %s\n" % e)
        sys.exit(2)

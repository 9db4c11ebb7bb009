#!/usr/bin/env python3
"""bench.py - spate next to Postfix and the protocol ceiling, on one machine, in one run.

SYNOPSIS
    perf/bench.sh [--quick] [--workload N:SIZE ...] [--runs R] [--sink postfix|spate]
                  [--sink-store] [--only CASES] [--out PATH] [--keep] [...]
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
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request

ZONE = "bench-test"
DNS_IP = "127.0.0.1"
SPATE_SMTP = ("127.0.0.1", 2525)
SPATE_HTTP = ("127.0.0.1", 8025)
POSTFIX_SMTP = ("127.0.0.1", 2526)
SINK_PORT = 25
SENDER = "sender@inject.bench-test"
PATTERN = "u%d@b%d." + ZONE
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

ALL_CASES = ["ceiling", "ceiling_newconn", "ceiling_inject", "spate_e2e_smtp", "spate_e2e_http",
             "spate_drain_smtp", "spate_drain_http", "spate_drain_redis", "postfix_e2e",
             "postfix_drain"]
REDIS_ADDR = ("127.0.0.1", 6379)
REDIS_ACTION = ("${if eq{$event_name}{msg:delivery}{${lookup redis{RPUSH deliveries "
                "$message_exim_id:$local_part@$domain:$host_address}}}{}}")


class SetupError(Exception):
    """Something the benchmark needs is missing or would not start."""


def log(msg):
    sys.stderr.write("[bench %s] %s\n" % (time.strftime("%H:%M:%S"), msg))
    sys.stderr.flush()


# --------------------------------------------------------------------------
# processes and cgroups


class Reaper:
    """Every process started, so that all of them are killed at the end, even on error."""

    def __init__(self):
        self.procs = []
        self.cgroups = []

    def popen(self, argv, cgroup=None, **kw):
        if cgroup is not None:
            argv = cgroup.wrap(argv)
        p = subprocess.Popen(argv, **kw)
        self.procs.append(p)
        return p

    def stop(self, p, sig=signal.SIGTERM, wait=10):
        if p.poll() is not None:
            return p.returncode
        try:
            os.kill(p.pid, signal.SIGCONT)
            os.kill(p.pid, sig)
            return p.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            p.kill()
            return p.wait(timeout=10)
        except ProcessLookupError:
            return p.wait(timeout=10)

    def cleanup(self):
        for p in reversed(self.procs):
            try:
                self.stop(p, wait=5)
            except Exception:
                pass
        for cg in self.cgroups:
            cg.kill_all()
            cg.remove()


class CGroup:
    """A CPU-accounting cgroup (v2 cpu.stat, or v1 cpuacct) holding what a case starts, so
    that CPU time of processes that have exited (Postfix's smtp, cleanup...) still counts."""

    def __init__(self, parent, name):
        self.path = os.path.join(parent, name) if parent else None
        self.v2 = parent is not None and parent.startswith("/sys/fs/cgroup/") and \
            os.path.exists("/sys/fs/cgroup/cgroup.controllers")
        if self.path:
            os.makedirs(self.path, exist_ok=True)

    def wrap(self, argv):
        if not self.path:
            return argv
        return ["/bin/sh", "-c", 'echo $$ > "$0/cgroup.procs" && exec "$@"', self.path] + argv

    def usage_s(self):
        """CPU seconds (user + system) of everything that ran in the group."""
        if not self.path:
            return None
        if self.v2:
            with open(os.path.join(self.path, "cpu.stat")) as f:
                for line in f:
                    k, v = line.split()
                    if k == "usage_usec":
                        return int(v) / 1e6
            return None
        with open(os.path.join(self.path, "cpuacct.usage")) as f:
            return int(f.read()) / 1e9

    def pids(self):
        if not self.path:
            return []
        try:
            with open(os.path.join(self.path, "cgroup.procs")) as f:
                return [int(x) for x in f.read().split()]
        except OSError:
            return []

    def kill_all(self):
        for _ in range(50):
            pids = self.pids()
            if not pids:
                return
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.1)

    def remove(self):
        if self.path and os.path.isdir(self.path):
            try:
                os.rmdir(self.path)
            except OSError:
                pass


def cgroup_parent():
    """A fresh parent cgroup for this run, or None where none can be made."""
    tag = "spate-bench-%d" % os.getpid()
    if os.path.exists("/sys/fs/cgroup/cgroup.controllers"):
        base = "/sys/fs/cgroup"
    elif os.path.isdir("/sys/fs/cgroup/cpuacct"):
        base = "/sys/fs/cgroup/cpuacct"
    else:
        return None
    try:
        os.makedirs(os.path.join(base, tag))
        return os.path.join(base, tag)
    except OSError:
        return None


class MemSampler(threading.Thread):
    """Samples the summed Rss and Pss of every process in a cgroup every 0.2 s."""

    def __init__(self, cg):
        super().__init__(daemon=True)
        self.cg = cg
        self.halt = threading.Event()
        self.peak_rss = 0
        self.peak_pss = 0
        self.peak_procs = 0

    def sample(self):
        rss = pss = 0
        pids = self.cg.pids()
        for pid in pids:
            try:
                with open("/proc/%d/smaps_rollup" % pid) as f:
                    for line in f:
                        if line.startswith("Rss:"):
                            rss += int(line.split()[1])
                        elif line.startswith("Pss:"):
                            pss += int(line.split()[1])
            except (OSError, ValueError, IndexError):
                pass
        self.peak_rss = max(self.peak_rss, rss)
        self.peak_pss = max(self.peak_pss, pss)
        self.peak_procs = max(self.peak_procs, len(pids))

    def run(self):
        while not self.halt.wait(0.2):
            self.sample()

    def finish(self):
        self.halt.set()
        self.join(timeout=5)
        self.sample()
        return {"peak_rss_mb": round(self.peak_rss / 1024, 1),
                "peak_pss_mb": round(self.peak_pss / 1024, 1),
                "peak_processes": self.peak_procs}


def vm_hwm_mb(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return None


def machine_busy_s():
    """CPU seconds the whole machine has spent busy (all cores), from /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    hz = os.sysconf("SC_CLK_TCK")
    return (sum(v[:8]) - v[3] - v[4]) / hz  # minus idle and iowait; guest is in user


def self_cpu_s():
    t = os.times()
    return t.user + t.system


def is_listening(addr, timeout=0.5):
    try:
        with socket.create_connection(addr, timeout=timeout):
            return True
    except OSError:
        return False


def wait_for(pred, timeout, what, step=0.1):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return
        time.sleep(step)
    raise SetupError("timed out after %ds waiting for %s" % (timeout, what))


# --------------------------------------------------------------------------
# DNS


def start_dns(env):
    """nsd on 127.0.0.1:53 serving the bench-test zone; checked through the libc resolver."""
    d = os.path.join(env.workdir, "dns")
    os.makedirs(d, exist_ok=True)
    recs = ["$TTL 3600",
            "%s. IN SOA ns.%s. hostmaster.%s. 1 3600 600 86400 3600" % (ZONE, ZONE, ZONE),
            "%s. IN NS ns.%s." % (ZONE, ZONE), "ns.%s. IN A %s" % (ZONE, DNS_IP)]
    for k in range(1, env.args.domains + 1):
        recs.append("b%d IN MX 10 mx.b%d.%s." % (k, k, ZONE))
        recs.append("mx.b%d IN A %s" % (k, env.sink_ip((k - 1) % env.args.sinks)))
    with open(os.path.join(d, ZONE + ".zone"), "w") as f:
        f.write("\n".join(recs) + "\n")
    conf = ["server:", "  ip-address: %s@53" % DNS_IP, '  username: ""', '  database: ""',
            '  zonesdir: "%s"' % d, '  pidfile: "%s/nsd.pid"' % d,
            '  xfrdfile: "%s/xfrd.state"' % d, '  zonelistfile: "%s/zone.list"' % d,
            '  logfile: "%s/nsd.log"' % d, "  verbosity: 0", "  do-ip6: no",
            "remote-control:", "  control-enable: no",
            "zone:", '  name: "%s."' % ZONE, '  zonefile: "%s/%s.zone"' % (d, ZONE)]
    with open(os.path.join(d, "nsd.conf"), "w") as f:
        f.write("\n".join(conf) + "\n")
    env.reaper.popen(["nsd", "-d", "-c", os.path.join(d, "nsd.conf")], stdout=subprocess.DEVNULL,
                     stderr=open(os.path.join(d, "nsd.stderr"), "w"))

    def resolves():
        try:
            return socket.gethostbyname("mx.b1." + ZONE) == env.sink_ip(0)
        except OSError:
            return False
    wait_for(resolves, 20, "nsd answering through /etc/resolv.conf")
    out = subprocess.run(["drill", "@" + DNS_IP, "MX", "b%d.%s" % (env.args.domains, ZONE)],
                         capture_output=True, text=True, timeout=10).stdout
    if "mx.b%d.%s" % (env.args.domains, ZONE) not in out:
        raise SetupError("nsd does not answer MX for b%d.%s:\n%s" % (env.args.domains, ZONE, out))


# --------------------------------------------------------------------------
# sinks


class Sinks:
    """S sink processes, one per address 127.0.2.1..S on port 25, counting what arrives.
    reached(n) gives the wall-clock time at which the sinks together had n messages."""

    def __init__(self, env, rundir):
        self.env = env
        self.kind = env.args.sink
        self.rundir = rundir
        self.procs = []
        self.lock = threading.Lock()
        self.mesg = [0] * env.args.sinks
        self.sess = [0] * env.args.sinks
        self.first_time = None
        self.target = None
        self.target_time = None
        self.last_change = time.time()
        self.threads = []
        self.cg = env.new_cgroup("sinks")

    def start(self):
        for i in range(self.env.args.sinks):
            addr = "%s:%d" % (self.env.sink_ip(i), SINK_PORT)
            if self.kind == "postfix":
                argv = ["smtp-sink", "-u", "nobody", "-c", addr, "1024"]
                p = self.env.reaper.popen(argv, cgroup=self.cg, stdout=subprocess.PIPE,
                                          stderr=subprocess.DEVNULL)
                t = threading.Thread(target=self._read_smtp_sink, args=(i, p), daemon=True)
                t.start()
                self.threads.append(t)
            else:
                argv = [self.env.bin("perf/spate-sink"), "-l", addr, "-t", "1",
                        "-s", self._stats_path(i)]
                if self.env.args.sink_store:
                    os.makedirs(self._store(i))
                    argv += ["-d", self._store(i)]
                p = self.env.reaper.popen(argv, cgroup=self.cg, stdout=subprocess.DEVNULL,
                                          stderr=subprocess.DEVNULL)
            self.procs.append(p)
        for i in range(self.env.args.sinks):
            wait_for(lambda: is_listening((self.env.sink_ip(i), SINK_PORT)), 10,
                     "sink on %s:%d" % (self.env.sink_ip(i), SINK_PORT))
        if self.kind == "spate":
            self.poller = threading.Thread(target=self._poll_spate_sink, daemon=True)
            self.halt = threading.Event()
            self.poller.start()
        # the readiness probes above count as sessions; start from here
        time.sleep(0.2)
        with self.lock:
            self.sess0 = sum(self.sess) if self.kind == "postfix" else None
        if self.kind == "spate":
            self.sess0 = sum(self._spate_stats(i).get("connections_total", 0)
                             for i in range(self.env.args.sinks))

    def _stats_path(self, i):
        return os.path.join(self.rundir, "sink%d.stats.json" % i)

    def _store(self, i):
        return os.path.join(self.rundir, "sink%d.store" % i)

    def _update(self, i, mesg, sess):
        now = time.time()
        with self.lock:
            if mesg != self.mesg[i]:
                self.last_change = now
            self.mesg[i] = mesg
            self.sess[i] = sess
            total = sum(self.mesg)
            if total > 0 and self.first_time is None:
                self.first_time = now
            if self.target is not None and self.target_time is None and total >= self.target:
                self.target_time = now

    def _read_smtp_sink(self, i, p):
        """smtp-sink -c writes '\\rsess=N quit=N mesg=N' at every event: follow it live."""
        fd = p.stdout.fileno()
        rx = re.compile(rb"sess=(\d+) quit=\d+ mesg=(\d+)")
        tail = b""
        while True:
            try:
                chunk = os.read(fd, 1 << 16)
            except OSError:
                break
            if not chunk:
                break
            buf = tail + chunk
            k = buf.rfind(b"\r")
            last = None
            for m in rx.finditer(buf):
                last = m
            if last is not None:
                self._update(i, int(last.group(2)), int(last.group(1)))
            tail = buf[k:] if k >= 0 else buf[-200:]

    def _spate_stats(self, i):
        try:
            with open(self._stats_path(i)) as f:
                return json.load(f)
        except (OSError, ValueError):
            return {}

    def _poll_spate_sink(self):
        """spate-sink rewrites its stats file at most every 100 ms: poll it every 20 ms."""
        while not self.halt.wait(0.02):
            for i in range(self.env.args.sinks):
                st = self._spate_stats(i)
                if st:
                    self._update(i, st.get("messages", 0), st.get("connections_total", 0))

    def pause(self):
        for p in self.procs:
            os.kill(p.pid, signal.SIGSTOP)

    def resume(self):
        for p in self.procs:
            os.kill(p.pid, signal.SIGCONT)

    def count(self):
        with self.lock:
            return sum(self.mesg)

    def wait_count(self, n, timeout, stall):
        """Wait until the sinks have n messages; False on timeout or no progress for stall s."""
        with self.lock:
            self.target = n
            if sum(self.mesg) >= n and self.target_time is None:
                self.target_time = time.time()
        deadline = time.time() + timeout
        while time.time() < deadline:
            with self.lock:
                if self.target_time is not None:
                    return True
                idle = time.time() - self.last_change
            if idle > stall:
                return False
            time.sleep(0.02)
        return False

    def stop(self):
        """Stop the sinks; their final counts."""
        for p in self.procs:
            self.env.reaper.stop(p, wait=10)
        for t in self.threads:
            t.join(timeout=5)
        if self.kind == "spate":
            self.halt.set()
            self.poller.join(timeout=5)
            for i in range(self.env.args.sinks):
                st = self._spate_stats(i)
                self._update(i, st.get("messages", 0), st.get("connections_total", 0))
        self.cg.kill_all()
        with self.lock:
            return {"messages": sum(self.mesg), "connections": sum(self.sess) - self.sess0,
                    "cpu_s": self.cg.usage_s()}

    def stored_message_ids(self):
        """Message-ID headers of what spate-sink stored (--sink spate --sink-store)."""
        ids = []
        rx = re.compile(rb"^Message-ID: <([^>]*)>", re.M | re.I)
        for i in range(self.env.args.sinks):
            d = self._store(i)
            for name in os.listdir(d) if os.path.isdir(d) else []:
                if name.endswith(".eml"):
                    with open(os.path.join(d, name), "rb") as f:
                        m = rx.search(f.read(4096))
                    ids.append(m.group(1).decode() if m else None)
        return ids


# --------------------------------------------------------------------------
# load generators


def run_inject(env, mode, target, n, size, run_id, cg, extra=()):
    """spate-inject; its JSON report."""
    argv = [env.bin("perf/spate-inject"), mode, target, "-n", str(n), "-s", str(size),
            "--from", SENDER, "--to-domains", str(env.args.domains), "--to-pattern", PATTERN,
            "--run-id", run_id, "-t", str(env.args.phase_timeout)] + list(extra)
    if mode == "smtp":
        argv += ["-c", str(env.args.smtp_conns)]
    else:
        argv += ["-c", str(env.args.http_conns), "-b", str(env.args.http_batch)]
    p = env.reaper.popen(argv, cgroup=cg, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    try:
        out, err = p.communicate(timeout=env.args.phase_timeout + 30)
    except subprocess.TimeoutExpired:
        env.reaper.stop(p, signal.SIGKILL)
        return {"error": "spate-inject did not finish", "acked": 0, "requested": n}
    try:
        return json.loads(out.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return {"error": "spate-inject: %s %s" % (out[-300:], err[-300:]), "acked": 0,
                "requested": n}


def case_ceiling(env, n, size, rep, variant):
    """smtp-source (or spate-inject) straight to the sinks, one client per sink address."""
    rundir = env.rundir("%s-%d-%d-%d" % (variant, n, size, rep))
    sinks = Sinks(env, rundir)
    sinks.start()
    per = [n // env.args.sinks + (1 if i < n % env.args.sinks else 0)
           for i in range(env.args.sinks)]
    sess = max(1, env.args.ceiling_sessions // env.args.sinks)
    cg = env.new_cgroup("client")
    t0 = time.time()
    procs = []
    for i in range(env.args.sinks):
        target = "%s:%d" % (env.sink_ip(i), SINK_PORT)
        if variant == "ceiling_inject":
            argv = [env.bin("perf/spate-inject"), "smtp", target, "-n", str(per[i]),
                    "-s", str(size), "-c", str(sess), "--to-domains", str(env.args.domains),
                    "--to-pattern", PATTERN, "--run-id", "ceil%d" % i, "-t",
                    str(env.args.phase_timeout)]
        else:
            argv = ["smtp-source", "-s", str(sess), "-m", str(per[i]), "-l", str(size),
                    "-f", SENDER, "-t", "u%d@b%d.%s" % (i, i + 1, ZONE), target]
            if variant == "ceiling":
                argv.insert(1, "-d")
        procs.append(env.reaper.popen(argv, cgroup=cg, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.PIPE, text=True))
    # the clients' own finish (the last 250 read) is exact; the sinks confirm the count
    deadline = t0 + env.args.phase_timeout
    t_end = None
    while time.time() < deadline:
        if all(p.poll() is not None for p in procs):
            t_end = time.time()
            break
        time.sleep(0.005)
    rcs = []
    for p in procs:
        if p.poll() is None:
            env.reaper.stop(p, signal.SIGKILL)
        rcs.append(p.returncode)
    ok = t_end is not None and sinks.wait_count(n, 10, 10)
    t_end = t_end or time.time()
    time.sleep(0.3)
    st = sinks.stop()
    res = {"n": n, "size": size, "seconds": round(t_end - t0, 4),
           "msgs_per_s": round(n / (t_end - t0), 1) if ok else None,
           "delivered": st["messages"], "connections": st["connections"],
           "sink_cpu_s": st["cpu_s"], "client_cpu_s": cg.usage_s(), "client_exit": rcs}
    env.check(variant, rep, res, n, st["messages"], None, ok)
    return res


# --------------------------------------------------------------------------
# spate


class Spate:
    name = "spate"
    extra_main = ()
    transport_extra = ()

    def __init__(self, env, rundir, drain=False):
        self.env = env
        self.rundir = rundir
        self.spool = os.path.join(rundir, "spool")
        self.log_path = os.path.join(rundir, "main.log")
        self.conf = os.path.join(rundir, "spated.conf")
        self.cg = env.new_cgroup("engine")
        self.proc = None
        self.smtp = "%s:%d" % SPATE_SMTP
        os.makedirs(self.spool)
        extra = "\n".join(list(env.args.spate_opt) + list(self.extra_main))
        with open(self.conf, "w") as f:
            f.write("\n".join([
                "primary_hostname = spate.%s" % ZONE,
                "spool_directory = %s" % self.spool,
                "log_file_path = %s" % self.log_path,
                "smtp_listen = %s:%d" % SPATE_SMTP,
                "http_listen = %s:%d" % SPATE_HTTP,
                "worker_threads = %d" % env.args.worker_threads,
                "relay_from_hosts = 127.0.0.0/8",
                "dns_servers = %s:53" % DNS_IP,
                extra, "",
                "begin routers",
                "dnslookup:", "  driver = dnslookup", "  transport = remote_smtp", "",
                "begin transports",
                "remote_smtp:", "  driver = smtp", "  port = %d" % SINK_PORT] +
                list(self.transport_extra) + ["",
                "begin retry",
                "*   *   F,2h,15m; G,16h,1h,1.5; F,4d,6h", ""]))

    def start(self):
        out = open(os.path.join(self.rundir, "spated.out"), "w")
        self.proc = self.env.reaper.popen([self.env.bin("spated"), "-c", self.conf],
                                          cgroup=self.cg, stdout=out, stderr=subprocess.STDOUT)

        def up():
            if self.proc.poll() is not None:
                raise SetupError("spated exited with %s: %s" % (
                    self.proc.returncode, tail(os.path.join(self.rundir, "spated.out"))))
            return is_listening(SPATE_SMTP) and self.metrics() is not None
        wait_for(up, 30, "spated on %s:%d and /metrics" % SPATE_SMTP)

    def metrics(self):
        try:
            with urllib.request.urlopen("http://%s:%d/metrics" % SPATE_HTTP, timeout=5) as r:
                text = r.read().decode()
        except OSError:
            return None
        vals = {}
        for line in text.splitlines():
            if line.startswith("spate_") and " " in line and "{" not in line:
                k, v = line.split(" ", 1)
                try:
                    vals[k] = float(v)
                except ValueError:
                    pass
        return vals

    def inject_target(self, mode):
        if mode == "http":
            return "http://%s:%d/api/v1/inject" % SPATE_HTTP
        return self.smtp

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def why_stopped(self):
        """Exit status and the last lines of the log and of stderr that are not deliveries."""
        lines = [l.strip() for l in tail(self.log_path, 200).splitlines()
                 if not re.search(r" (=>|<=) | Completed$", l)][-5:]
        out = tail(os.path.join(self.rundir, "spated.out"), 200).splitlines()
        out = [l.strip() for l in out if not re.search(r" (=>|<=) | Completed$", l)][-5:]
        return "exit status %s (negative: killed by that signal); log: %s; stderr: %s" % (
            self.proc.returncode, " | ".join(lines), " | ".join(o for o in out if o not in lines))

    def snapshot(self):
        m = self.metrics() or {}
        return {"spated_vmhwm_mb": vm_hwm_mb(self.proc.pid),
                "metrics": {k[6:]: v for k, v in m.items() if k.endswith("_total") or
                            k.startswith("spate_queue") or k.startswith("spate_connections")}}

    def stop(self):
        rc = self.env.reaper.stop(self.proc, wait=30)
        self.cg.kill_all()
        return rc

    def deliveries(self):
        """Parse the main log: per-message acceptance and delivery times (ms precision)."""
        rx = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)\.(\d{3}) (\S+) (<=|=>|==|\*\*) (\S+)")
        epoch = {}
        acc, dlv, counts = {}, [], {"<=": 0, "=>": 0, "==": 0, "**": 0}
        samples = {"==": [], "**": []}
        try:
            f = open(self.log_path, errors="replace")
        except OSError:
            return None
        with f:
            for line in f:
                m = rx.match(line)
                if not m:
                    continue
                sec = m.group(1)
                if sec not in epoch:
                    epoch[sec] = time.mktime(time.strptime(sec, "%Y-%m-%d %H:%M:%S"))
                t = epoch[sec] + int(m.group(2)) / 1000.0
                kind = m.group(4)
                counts[kind] += 1
                if kind == "<=":
                    acc[m.group(3)] = t
                elif kind == "=>":
                    dlv.append((m.group(3), m.group(5), t))
                elif len(samples[kind]) < 5:
                    samples[kind].append(line.strip())
        lat = [t - acc[i] for i, _, t in dlv if i in acc]
        keys = set((i, r) for i, r, _ in dlv)
        return {"accepted": len(acc), "delivered": len(keys),
                "duplicate_deliveries": len(dlv) - len(keys), "deferrals": counts["=="],
                "failures": counts["**"], "latency": lat,
                "first_delivery": min((t for _, _, t in dlv), default=None),
                "last_delivery": max((t for _, _, t in dlv), default=None),
                "samples": samples["=="] + samples["**"]}


# --------------------------------------------------------------------------
# Postfix


class SpateRedis(Spate):
    """spated with a msg:delivery event action recording every delivery in Redis."""
    name = "spate_redis"
    extra_main = ("redis_servers = %s::%d//" % REDIS_ADDR,)
    transport_extra = ("  event_action = " + REDIS_ACTION,)

    def __init__(self, env, rundir, drain=False):
        Spate.__init__(self, env, rundir, drain)
        self.redis = env.reaper.popen(
            ["redis-server", "--bind", REDIS_ADDR[0], "--port", str(REDIS_ADDR[1]), "--save",
             "", "--appendonly", "no", "--dir", rundir], cgroup=self.cg,
            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        wait_for(lambda: is_listening(REDIS_ADDR), 10, "redis-server")

    def snapshot(self):
        snap = Spate.snapshot(self)
        out = subprocess.run(["redis-cli", "-h", REDIS_ADDR[0], "-p", str(REDIS_ADDR[1]),
                              "LLEN", "deliveries"], stdout=subprocess.PIPE, timeout=10)
        snap["redis_entries"] = int(out.stdout.decode().strip() or 0)
        return snap

    def stop(self):
        rc = Spate.stop(self)
        self.env.reaper.stop(self.redis, wait=10)
        return rc


class Postfix:
    name = "postfix"

    def __init__(self, env, rundir, drain=False):
        self.env = env
        self.rundir = rundir
        self.etc = os.path.join(rundir, "pf-etc")
        self.queue = os.path.join(rundir, "pf-queue")
        self.data = os.path.join(rundir, "pf-data")
        self.log_path = os.path.join(rundir, "postfix.log")
        self.cg = env.new_cgroup("engine")
        self.smtp = "%s:%d" % POSTFIX_SMTP
        for d in (self.etc, self.queue, self.data):
            os.makedirs(d)
        shutil.chown(self.data, "postfix")
        master = "/etc/postfix/master.cf"
        if not os.path.exists(master):
            master = "/usr/share/postfix/master.cf.dist"
        shutil.copy(master, os.path.join(self.etc, "master.cf"))
        open(os.path.join(self.etc, "main.cf"), "w").close()
        self.postconf("-e", "queue_directory=" + self.queue, "data_directory=" + self.data,
                      "compatibility_level=3.6", "myhostname=postfix." + ZONE, "mydestination=",
                      "inet_interfaces=127.0.0.1", "inet_protocols=ipv4",
                      "mynetworks=127.0.0.0/8", "local_transport=error:no local delivery",
                      "maillog_file=" + self.log_path, "smtputf8_enable=no",
                      "delay_logging_resolution_limit=6", *env.args.postfix_opt)
        if drain:
            # With delivery held, qmgr stops taking new mail once qmgr_message_active_limit
            # (20000) messages are active, and in_flow_delay (1 s) then makes every further
            # message wait a second for a token: injection falls to one message per second
            # per client by design. The drain case measures the queue, so it turns that off.
            self.postconf("-e", "in_flow_delay=0s")
        self.postconf("-F", "*/*/chroot=n")
        self.postconf("-M#", "smtp/inet")
        self.postconf("-Me", "%s/inet=%s inet n - n - - smtpd" % (self.smtp, self.smtp))
        self.postconf("-Me", "postlog/unix-dgram=postlog unix-dgram n - n - 1 postlogd")

    def postconf(self, *args):
        r = subprocess.run(["postconf", "-c", self.etc] + list(args), capture_output=True,
                           text=True, timeout=30)
        if r.returncode != 0:
            raise SetupError("postconf %s: %s" % (" ".join(args), r.stderr))

    def start(self):
        r = subprocess.run(self.cg.wrap(["postfix", "-c", self.etc, "start"]), capture_output=True,
                           text=True, timeout=60)
        if r.returncode != 0:
            raise SetupError("postfix start: %s %s %s" % (r.stdout, r.stderr, tail(self.log_path)))
        wait_for(lambda: is_listening(POSTFIX_SMTP), 30, "Postfix smtpd on %s" % self.smtp)

    def inject_target(self, mode):
        return self.smtp

    def alive(self):
        return bool(self.cg.pids())

    def why_stopped(self):
        return "no Postfix process left; log: " + " | ".join(
            l.strip() for l in tail(self.log_path, 5).splitlines())

    def snapshot(self):
        return {}

    def stop(self):
        try:
            subprocess.run(["postfix", "-c", self.etc, "stop"], capture_output=True, timeout=60)
        except subprocess.TimeoutExpired:
            pass
        deadline = time.time() + 20
        while self.cg.pids() and time.time() < deadline:
            time.sleep(0.2)
        self.cg.kill_all()
        return 0

    def deliveries(self):
        """Parse the maillog: status=sent lines with their delay= (arrival to delivery)."""
        rx = re.compile(r"postfix/smtp\[\d+\]: ([0-9A-F]+): to=<([^>]*)>, .*?delay=([\d.]+), .*"
                        r"status=(sent|deferred|bounced)")
        acc_rx = re.compile(r"postfix/cleanup\[\d+\]: ([0-9A-F]+): message-id=")
        sent, lat, counts, samples, acc = [], [], {"deferred": 0, "bounced": 0}, [], set()
        try:
            f = open(self.log_path, errors="replace")
        except OSError:
            return None
        with f:
            for line in f:
                m = acc_rx.search(line)
                if m:
                    acc.add(m.group(1))
                    continue
                m = rx.search(line)
                if not m:
                    continue
                if m.group(4) == "sent":
                    sent.append((m.group(1), m.group(2)))
                    lat.append(float(m.group(3)))
                else:
                    counts[m.group(4)] += 1
                    if len(samples) < 5:
                        samples.append(line.strip())
        keys = set(sent)
        return {"accepted": len(acc), "delivered": len(keys),
                "duplicate_deliveries": len(sent) - len(keys), "deferrals": counts["deferred"],
                "failures": counts["bounced"], "latency": lat, "first_delivery": None,
                "last_delivery": None, "samples": samples}


# --------------------------------------------------------------------------
# one engine run


def pct(values, p):
    if not values:
        return None
    v = sorted(values)
    k = min(len(v) - 1, max(0, int(round(p / 100.0 * len(v) + 0.5)) - 1))
    return v[k]


def case_engine(env, engine_cls, n, size, rep, mode, drain):
    """One run of an engine: inject n messages, wait for all of them at the sinks."""
    label = "%s_%s_%s" % (engine_cls.name, "drain" if drain else "e2e", mode)
    rundir = env.rundir("%s-%d-%d-%d" % (label, n, size, rep))
    sinks = Sinks(env, rundir)
    sinks.start()
    if drain:
        sinks.pause()
    eng = engine_cls(env, rundir, drain)
    eng.start()
    time.sleep(0.5)
    cpu0 = eng.cg.usage_s()
    busy0, self0, sink0, wall0 = machine_busy_s(), self_cpu_s(), sinks.cg.usage_s(), time.time()
    mem = MemSampler(eng.cg)
    mem.start()
    injcg = env.new_cgroup("client")
    inj = run_inject(env, mode, eng.inject_target(mode), n, size,
                     "%s.%d.%d" % (label, n, rep), injcg)
    t_release = None
    if drain:
        time.sleep(0.2)
        queued = mem.finish()
        mem = MemSampler(eng.cg)
        mem.start()
        t_release = time.time()
        sinks.resume()
    ok = sinks.wait_count(n, env.args.phase_timeout, env.args.stall)
    died = None if eng.alive() else eng.why_stopped()
    if died:
        log("!!! %s stopped during the run: %s" % (engine_cls.name, died))
    t_done = sinks.target_time
    time.sleep(1.0)  # anything beyond n now is a duplicate
    cpu1 = eng.cg.usage_s()
    busy1, self1, sink1, wall1 = machine_busy_s(), self_cpu_s(), sinks.cg.usage_s(), time.time()
    memres = mem.finish()
    snap = eng.snapshot() if eng.alive() else {}
    alive = eng.alive()
    rc = eng.stop()
    st = sinks.stop()
    d = eng.deliveries() or {"latency": [], "delivered": 0, "accepted": 0,
                             "duplicate_deliveries": 0, "samples": []}
    res = {"n": n, "size": size, "inject_mode": mode, "drain": drain, "inject": inj,
           "inject_msgs_per_s": inj.get("msgs_per_s"),
           "delivered_at_sinks": st["messages"], "delivered_logged": d["delivered"],
           "accepted_logged": d["accepted"], "duplicate_deliveries_logged":
               d["duplicate_deliveries"], "deferrals": d.get("deferrals"),
           "failures": d.get("failures"), "log_samples": d["samples"],
           "sink_connections": st["connections"], "sink_cpu_s": st["cpu_s"],
           "inject_cpu_s": injcg.usage_s(), "engine_alive_at_end": alive, "engine_exit": rc}
    res.update(memres)
    res.update(snap)
    if "redis_entries" in snap and snap["redis_entries"] != n:
        env.problems.append("%s: Redis holds %d delivery events for %d messages" % (
            label, snap["redis_entries"], n))
    if died:
        res["engine_stopped_during_run"] = died
        # a SIGTERM the benchmark did not send: something else on the machine stopped it
        res["external_stop"] = "signal 15 received" in died
    if cpu0 is not None and cpu1 is not None and sink0 is not None:
        ours = (cpu1 - cpu0) + (sink1 - sink0) + (injcg.usage_s() or 0) + (self1 - self0)
        res["machine_busy_cpu_s"] = round(busy1 - busy0, 3)
        res["other_cpu_s"] = round(max(0.0, busy1 - busy0 - ours), 3)
        res["other_cpu_share"] = round(res["other_cpu_s"] / ((wall1 - wall0) * os.cpu_count()), 3)
        res["loadavg_1m"] = os.getloadavg()[0]
        if res["other_cpu_share"] > 0.1:
            log("    note: other processes on the machine used %.0f%% of the CPU during this run"
                % (100 * res["other_cpu_share"]))
    if cpu0 is not None and cpu1 is not None:
        res["cpu_s"] = round(cpu1 - cpu0, 3)
        res["cpu_s_per_1000"] = round((cpu1 - cpu0) / n * 1000, 4)
    if drain:
        res["peak_rss_queued_mb"] = queued["peak_rss_mb"]
        res["peak_pss_queued_mb"] = queued["peak_pss_mb"]
        res["peak_rss_mb"] = max(res["peak_rss_mb"], queued["peak_rss_mb"])
        res["peak_pss_mb"] = max(res["peak_pss_mb"], queued["peak_pss_mb"])
        if t_done:
            res["drain_seconds"] = round(t_done - t_release, 4)
            res["drain_msgs_per_s"] = round(n / (t_done - t_release), 1)
    elif t_done and "start" in inj:
        res["e2e_seconds"] = round(t_done - inj["start"], 4)
        res["e2e_msgs_per_s"] = round(n / (t_done - inj["start"]), 1)
        if sinks.first_time:
            res["delivery_span_msgs_per_s"] = round(n / max(1e-3, t_done - sinks.first_time), 1)
        lat = d["latency"]
        res["latency_p50_ms"] = round(pct(lat, 50) * 1000, 2) if lat else None
        res["latency_p99_ms"] = round(pct(lat, 99) * 1000, 2) if lat else None
        res["latency_max_ms"] = round(max(lat) * 1000, 2) if lat else None
    if d.get("last_delivery") and inj.get("start"):
        res["last_delivery_log_after_start_s"] = round(d["last_delivery"] - inj["start"], 3)
    if env.args.sink_store:
        ids = [i for i in sinks.stored_message_ids() if i]
        res["stored_unique_message_ids"] = len(set(ids))
        res["stored_duplicate_message_ids"] = len(ids) - len(set(ids))
    if died:
        env.problem(label, rep, "%s stopped before delivering everything: %s" % (
            engine_cls.name, died))
    env.check(label, rep, res, n, st["messages"], d["delivered"], ok)
    if inj.get("acked") != n:
        env.problem(label, rep, "injection acknowledged %s of %d (%s)" % (
            inj.get("acked"), n, inj.get("error") or "failed=%s" % inj.get("failed")))
    return res


# --------------------------------------------------------------------------
# the whole run


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


def tail(path, n=10):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-n:])
    except OSError:
        return ""


def summarize(runs, key):
    vals = [r.get(key) for r in runs if isinstance(r.get(key), (int, float))]
    if not vals:
        return None
    return {"median": round(statistics.median(vals), 4), "min": min(vals), "max": max(vals),
            "n": len(vals)}


FIGURES = ["msgs_per_s", "inject_msgs_per_s", "e2e_msgs_per_s", "drain_msgs_per_s",
           "delivery_span_msgs_per_s", "latency_p50_ms", "latency_p99_ms", "latency_max_ms",
           "cpu_s_per_1000", "peak_rss_mb", "peak_pss_mb", "peak_rss_queued_mb",
           "peak_pss_queued_mb", "spated_vmhwm_mb", "sink_connections", "connections",
           "delivered_at_sinks", "delivered", "sink_cpu_s", "inject_cpu_s"]


def headline(cases):
    """The engine-level figures: which case each comes from."""
    def med(case, key):
        s = (cases.get(case) or {}).get("summary", {}).get(key)
        return s["median"] if s else None

    def rng(case, key):
        return (cases.get(case) or {}).get("summary", {}).get(key)
    out = {}
    for eng, e2e, drain in (("spate", "spate_e2e_smtp", "spate_drain_smtp"),
                            ("postfix", "postfix_e2e", "postfix_drain")):
        out[eng] = {
            "inject_smtp_msgs_per_s": rng(drain, "inject_msgs_per_s"),
            "inject_smtp_during_delivery_msgs_per_s": rng(e2e, "inject_msgs_per_s"),
            "drain_msgs_per_s": rng(drain, "drain_msgs_per_s"),
            "e2e_msgs_per_s": rng(e2e, "e2e_msgs_per_s"),
            "latency_p50_ms": rng(e2e, "latency_p50_ms"),
            "latency_p99_ms": rng(e2e, "latency_p99_ms"),
            "cpu_s_per_1000": rng(e2e, "cpu_s_per_1000"),
            "peak_rss_mb": rng(e2e, "peak_rss_mb"),
            "peak_pss_mb": rng(e2e, "peak_pss_mb"),
            "peak_rss_queued_mb": rng(drain, "peak_rss_queued_mb"),
            "connections": rng(e2e, "sink_connections"),
        }
    out["spate"]["inject_http_msgs_per_s"] = rng("spate_drain_http", "inject_msgs_per_s")
    out["spate"]["e2e_http_msgs_per_s"] = rng("spate_e2e_http", "e2e_msgs_per_s")
    out["spate"]["drain_after_http_msgs_per_s"] = rng("spate_drain_http", "drain_msgs_per_s")
    out["spate"]["drain_redis_event_msgs_per_s"] = rng("spate_drain_redis", "drain_msgs_per_s")
    out["ceiling"] = {"msgs_per_s": rng("ceiling", "msgs_per_s"),
                      "newconn_msgs_per_s": rng("ceiling_newconn", "msgs_per_s"),
                      "spate_inject_msgs_per_s": rng("ceiling_inject", "msgs_per_s"),
                      "connections": rng("ceiling", "connections")}

    def ratio(a, b):
        return round(a / b, 3) if a is not None and b else None
    sp, pf = out["spate"], out["postfix"]
    ceil = med("ceiling", "msgs_per_s")
    out["ratios"] = {"spate/postfix": {}, "spate/ceiling": {}}
    for k in ("inject_smtp_msgs_per_s", "drain_msgs_per_s", "e2e_msgs_per_s", "latency_p50_ms",
              "latency_p99_ms", "cpu_s_per_1000", "peak_rss_mb", "peak_pss_mb",
              "connections"):
        out["ratios"]["spate/postfix"][k] = ratio((sp[k] or {}).get("median"),
                                                  (pf[k] or {}).get("median"))
    for k in ("inject_smtp_msgs_per_s", "inject_http_msgs_per_s", "drain_msgs_per_s",
              "e2e_msgs_per_s"):
        out["ratios"]["spate/ceiling"][k] = ratio((sp[k] or {}).get("median"), ceil)
    out["ratios"]["redis_event/no_event"] = ratio(
        (sp["drain_redis_event_msgs_per_s"] or {}).get("median"),
        (sp["drain_after_http_msgs_per_s"] or {}).get("median"))
    out["ratios"]["postfix/ceiling"] = {
        k: ratio((pf[k] or {}).get("median"), ceil)
        for k in ("inject_smtp_msgs_per_s", "drain_msgs_per_s", "e2e_msgs_per_s")}
    return out


def fmt(s, digits=0):
    if not s:
        return "-"
    f = "%%.%df" % digits
    if s["min"] == s["max"]:
        return f % s["median"]
    return (f + " [" + f + ".." + f + "]") % (s["median"], s["min"], s["max"])


def print_table(wl, h):
    rows = [("durable injection, SMTP (msg/s)", "inject_smtp_msgs_per_s", 0),
            ("  same, while delivering (msg/s)", "inject_smtp_during_delivery_msgs_per_s", 0),
            ("durable injection, HTTP (msg/s)", "inject_http_msgs_per_s", 0),
            ("delivery drain (msg/s)", "drain_msgs_per_s", 0),
            ("end to end, SMTP in (msg/s)", "e2e_msgs_per_s", 0),
            ("end to end, HTTP in (msg/s)", "e2e_http_msgs_per_s", 0),
            ("latency p50 (ms)", "latency_p50_ms", 1),
            ("latency p99 (ms)", "latency_p99_ms", 1),
            ("CPU s / 1000 msgs", "cpu_s_per_1000", 3),
            ("peak RSS, sum (MB)", "peak_rss_mb", 1),
            ("peak PSS, sum (MB)", "peak_pss_mb", 1),
            ("peak RSS, N queued (MB)", "peak_rss_queued_mb", 1),
            ("connections opened", "connections", 0)]
    print("\n=== N=%d x %d bytes, %d domains, %d sinks (%s), median [min..max] of %d runs ===" % (
        wl["n"], wl["size"], wl["domains"], wl["sinks"], wl["sink"], wl["runs"]))
    print("%-38s %-28s %-28s %-9s %-9s" % ("", "spate", "postfix", "sp/pf", "sp/ceil"))
    r = h["ratios"]
    for title, key, dg in rows:
        sp = fmt(h["spate"].get(key), dg)
        pf = fmt(h["postfix"].get(key), dg)
        rp = r["spate/postfix"].get(key)
        rc = r["spate/ceiling"].get(key)
        print("%-38s %-28s %-28s %-9s %-9s" % (title, sp, pf, "-" if rp is None else rp,
                                                "-" if rc is None else rc))
    if h["spate"].get("drain_redis_event_msgs_per_s"):
        print("drain after HTTP injection: %s msg/s without event actions, %s msg/s with a "
              "Redis msg:delivery event_action (ratio %s)" % (
                  fmt(h["spate"].get("drain_after_http_msgs_per_s")),
                  fmt(h["spate"].get("drain_redis_event_msgs_per_s")),
                  h["ratios"].get("redis_event/no_event")))
    c = h["ceiling"]
    print("ceiling: smtp-source -d -> sinks %s msg/s (%s connections); a connection per "
          "message %s msg/s; spate-inject -> sinks %s msg/s" % (
              fmt(c["msgs_per_s"]), fmt(c["connections"]), fmt(c["newconn_msgs_per_s"]),
              fmt(c["spate_inject_msgs_per_s"])))


def machine_info(args):
    info = {"nproc": os.cpu_count(), "kernel": platform.release(), "python": platform.python_version()}
    try:
        with open("/proc/cpuinfo") as f:
            info["cpu_model"] = next((l.split(":", 1)[1].strip() for l in f
                                      if l.startswith("model name")), None)
        with open("/proc/meminfo") as f:
            info["mem_total_kb"] = int(f.readline().split()[1])
    except (OSError, StopIteration, ValueError):
        pass
    for key, argv in (("postfix_version", ["postconf", "-d", "-h", "mail_version"]),
                      ("spate_commit", ["git", "-C", ROOT, "rev-parse", "--short", "HEAD"]),
                      ("spate_tree_dirty", ["git", "-C", ROOT, "status", "--porcelain",
                                            "--untracked-files=no"])):
        try:
            out = subprocess.run(argv, capture_output=True, text=True, timeout=10).stdout.strip()
            info[key] = bool(out) if key == "spate_tree_dirty" else out
        except (OSError, subprocess.TimeoutExpired):
            pass
    try:
        import hashlib
        with open(os.path.join(args.build, "spated"), "rb") as f:
            info["spated_sha256"] = hashlib.sha256(f.read()).hexdigest()[:16]
    except OSError:
        pass
    try:
        out = subprocess.run(["df", "-T", args.workdir], capture_output=True, text=True,
                             timeout=10).stdout.splitlines()[-1].split()
        info["spool_filesystem"] = {"device": out[0], "type": out[1]}
    except (OSError, IndexError, subprocess.TimeoutExpired):
        pass
    return info


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


def parse_args(argv):
    p = argparse.ArgumentParser(description="spate vs Postfix vs the protocol ceiling")
    p.add_argument("--quick", action="store_true",
                   help="N=5000 x 2 KB and N=1000 x 50 KB, one run each")
    p.add_argument("--workload", action="append", default=[], metavar="N:SIZE",
                   help="a workload (repeatable); default 50000:2048 and 10000:51200")
    p.add_argument("--runs", type=int, default=None, help="repetitions (default 3; --quick 1)")
    p.add_argument("--only", default=",".join(ALL_CASES),
                   help="comma-separated cases to run (default all): " + ",".join(ALL_CASES))
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
    a.cases = [c.strip() for c in a.only.split(",") if c.strip()]
    for c in a.cases:
        if c not in ALL_CASES:
            p.error("unknown case %r" % c)
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
        start_dns(env)
        for n, s in a.workloads:
            result["workloads"].append(run_workload(env, n, s, a.cases))
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

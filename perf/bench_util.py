"""bench_util.py - what every part of perf/bench.py shares: the addresses and
names of the test network, process reaping, cgroups, memory sampling, waiting,
and the nsd that serves the bench zone."""

import os
import signal
import socket
import subprocess
import sys
import threading
import time

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


def start_dns(env, domains=None, extra=()):
    """nsd on 127.0.0.1:53 serving the bench-test zone with domains b1..bD (D: domains,
    default --domains) and the extra records; checked through the libc resolver."""
    domains = domains or env.args.domains
    d = os.path.join(env.workdir, "dns")
    os.makedirs(d, exist_ok=True)
    recs = ["$TTL 3600",
            "%s. IN SOA ns.%s. hostmaster.%s. 1 3600 600 86400 3600" % (ZONE, ZONE, ZONE),
            "%s. IN NS ns.%s." % (ZONE, ZONE), "ns.%s. IN A %s" % (ZONE, DNS_IP)]
    for k in range(1, domains + 1):
        recs.append("b%d IN MX 10 mx.b%d.%s." % (k, k, ZONE))
        recs.append("mx.b%d IN A %s" % (k, env.sink_ip((k - 1) % env.args.sinks)))
    recs += list(extra)
    with open(os.path.join(d, ZONE + ".zone"), "w") as f:
        f.write("\n".join(recs) + "\n")
    conf = ["server:", "  ip-address: %s@53" % DNS_IP, '  username: ""', '  database: ""',
            '  zonesdir: "%s"' % d, '  pidfile: "%s/nsd.pid"' % d,
            '  xfrdfile: "%s/xfrd.state"' % d, '  zonelistfile: "%s/zone.list"' % d,
            '  logfile: "%s/nsd.log"' % d, "  verbosity: 0", "  do-ip6: no",
            # Debian's nsd has response rate limiting (200 answers/s per source) on by
            # default: every query here comes from 127.0.0.1, so a burst of lookups (1,000
            # domains in the fanout case) would be dropped as if it were an attack
            "  rrl-ratelimit: 0",
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
    out = subprocess.run(["drill", "@" + DNS_IP, "MX", "b%d.%s" % (domains, ZONE)],
                         capture_output=True, text=True, timeout=10).stdout
    if "mx.b%d.%s" % (domains, ZONE) not in out:
        raise SetupError("nsd does not answer MX for b%d.%s:\n%s" % (domains, ZONE, out))


# --------------------------------------------------------------------------
# sinks


def tail(path, n=10):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-n:])
    except OSError:
        return ""

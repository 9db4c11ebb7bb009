"""bench_engines.py - the receivers (sinks), the load generator and the engines
under test (spated, spated with a Redis event action, Postfix) for perf/bench.py,
and the ceiling and engine cases that run them."""

import json
import os
import re
import shutil
import signal
import subprocess
import threading
import time
import urllib.request

from bench_util import *  # noqa: F401,F403

class Sinks:
    """S sink processes, one per address 127.0.2.1..S on port 25, counting what arrives.
    wait_count(n) waits until the sinks together have n messages (or, with
    count="recipients", n recipients: spate-sink only) and notes when that happened.
    kind, extra (more spate-sink arguments, e.g. TLS) and store override the options."""

    def __init__(self, env, rundir, kind=None, extra=(), store=None, count="messages"):
        self.env = env
        self.kind = kind or env.args.sink
        self.extra = list(extra)
        self.store = env.args.sink_store if store is None else store
        self.count_key = count
        if count != "messages" and self.kind != "spate":
            raise SetupError("counting %s needs spate-sink" % count)
        self.rundir = rundir
        self.procs = []
        self.lock = threading.Lock()
        self.mesg = [0] * env.args.sinks
        self.sess = [0] * env.args.sinks
        self.first_time = None
        self.base = 0  # messages that arrived before the measured ones (not counted)
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
                        "-s", self._stats_path(i)] + self.extra
                if self.store:
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
            total = sum(self.mesg) - self.base
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
                    self._update(i, st.get(self.count_key, 0), st.get("connections_total", 0))

    def pause(self):
        for p in self.procs:
            os.kill(p.pid, signal.SIGSTOP)

    def resume(self):
        for p in self.procs:
            os.kill(p.pid, signal.SIGCONT)

    def count(self):
        with self.lock:
            return sum(self.mesg) - self.base

    def rebase(self):
        """What has arrived so far is not part of the measured messages."""
        with self.lock:
            self.base = sum(self.mesg)
            self.first_time = None

    def wait_count(self, n, timeout, stall):
        """Wait until the sinks have n messages; False on timeout or no progress for stall s."""
        with self.lock:
            self.target = n
            if sum(self.mesg) - self.base >= n and self.target_time is None:
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
            stats = {}
            for i in range(self.env.args.sinks):
                st = self._spate_stats(i)
                self._update(i, st.get(self.count_key, 0), st.get("connections_total", 0))
                for k, v in st.items():
                    if isinstance(v, int) and k != "connections_now":
                        stats[k] = max(stats.get(k, 0), v) if k.endswith("_max") else \
                            stats.get(k, 0) + v
        self.cg.kill_all()
        with self.lock:
            res = {"messages": sum(self.mesg) - self.base,
                   "connections": sum(self.sess) - self.sess0,
                   "cpu_s": self.cg.usage_s()}
        if self.kind == "spate":
            res["stats"] = stats  # spate-sink's counters summed over the sinks
        return res

    def stored_envelopes(self):
        """The .env records spate-sink stored (with store): one per transaction."""
        envs = []
        for i in range(self.env.args.sinks):
            d = self._store(i)
            for name in os.listdir(d) if os.path.isdir(d) else []:
                if name.endswith(".env"):
                    try:
                        with open(os.path.join(d, name)) as f:
                            envs.append(json.load(f))
                    except (OSError, ValueError):
                        pass
        return envs

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

    def __init__(self, env, rundir, drain=False, extra=()):
        self.env = env
        self.rundir = rundir
        self.spool = os.path.join(rundir, "spool")
        self.log_path = os.path.join(rundir, "main.log")
        self.conf = os.path.join(rundir, "spated.conf")
        self.cg = env.new_cgroup("engine")
        self.proc = None
        self.smtp = "%s:%d" % SPATE_SMTP
        os.makedirs(self.spool)
        extra = "\n".join(list(env.args.spate_opt) + list(self.extra_main) + list(extra))
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

    def start(self, args=(), timeout=30):
        out = open(os.path.join(self.rundir, "spated.out"), "a")
        self.proc = self.env.reaper.popen([self.env.bin("spated"), "-c", self.conf] + list(args),
                                          cgroup=self.cg, stdout=out, stderr=subprocess.STDOUT)

        def up():
            if self.proc.poll() is not None:
                raise SetupError("spated exited with %s: %s" % (
                    self.proc.returncode, tail(os.path.join(self.rundir, "spated.out"))))
            return is_listening(SPATE_SMTP) and self.metrics() is not None
        wait_for(up, timeout, "spated on %s:%d and /metrics" % SPATE_SMTP)

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

    def deliveries(self, only=None):
        """Parse the main log: per-message acceptance and delivery times (ms precision);
        only (a regex): count just the deliveries, deferrals and failures of the
        recipients it matches."""
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
                if only and kind != "<=" and not only.search(m.group(5)):
                    continue
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

    def __init__(self, env, rundir, drain=False, extra=()):
        Spate.__init__(self, env, rundir, drain, extra)
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

    def __init__(self, env, rundir, drain=False, extra=()):
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
                      "delay_logging_resolution_limit=6", *env.args.postfix_opt, *extra)
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

    def deliveries(self, only=None):
        """Parse the maillog: status=sent lines with their delay= (arrival to delivery);
        only (a regex): just the recipients it matches."""
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
                if not m or (only and not only.search(m.group(2))):
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


def count_lines(path, rx):
    try:
        with open(path, errors="replace") as f:
            return sum(1 for line in f if rx.search(line))
    except OSError:
        return None


def pct(values, p):
    if not values:
        return None
    v = sorted(values)
    k = min(len(v) - 1, max(0, int(round(p / 100.0 * len(v) + 0.5)) - 1))
    return v[k]


def case_engine(env, engine_cls, n, size, rep, mode, drain, v=None):
    """One run of an engine: inject n messages, wait for all of them at the sinks.
    v (a dict, all keys optional) varies it for the hard cases: "label" (a suffix),
    "sinks" (Sinks keyword arguments), "engine_extra" (spated main-section lines or
    main.cf settings), "before" (a function (env, eng, rundir, sinks) -> dict run once the
    engine is up and before the measured injection; its dict goes into the result, and what
    the sinks got meanwhile is not counted), "after" (the
    same, run once the measured messages are all at the sinks), "inject_extra"
    (spate-inject arguments), "only" (a regex: the log's deliveries are counted for
    the recipients it matches only), "other_counts" ({name: regex}: the deliveries,
    deferrals and failures of other recipients, under "other"), "log_counts" ({name:
    regex}: lines of the engine's log that match), "stall" (seconds)."""
    v = v or {}
    label = "%s_%s_%s%s" % (engine_cls.name, "drain" if drain else "e2e", mode, v.get("label", ""))
    # (a variant's folder name leaves out n and size: Postfix's socket paths must stay
    # under 108 octets)
    rundir = env.rundir("%s-%d" % (label, rep) if v else "%s-%d-%d-%d" % (label, n, size, rep))
    sinks = Sinks(env, rundir, **v.get("sinks", {}))
    sinks.start()
    if drain:
        sinks.pause()
    eng = engine_cls(env, rundir, drain, v.get("engine_extra", ()))
    eng.start()
    time.sleep(0.5)
    pre = v["before"](env, eng, rundir, sinks) if v.get("before") else {}
    sinks.rebase()
    cpu0 = eng.cg.usage_s()
    busy0, self0, sink0, wall0 = machine_busy_s(), self_cpu_s(), sinks.cg.usage_s(), time.time()
    mem = MemSampler(eng.cg)
    mem.start()
    injcg = env.new_cgroup("client")
    inj = run_inject(env, mode, eng.inject_target(mode), n, size,
                     "%s.%d.%d" % (label, n, rep), injcg, v.get("inject_extra", ()))
    t_release = None
    if drain:
        time.sleep(0.2)
        queued = mem.finish()
        mem = MemSampler(eng.cg)
        mem.start()
        t_release = time.time()
        sinks.resume()
    ok = sinks.wait_count(n, env.args.phase_timeout, v.get("stall", env.args.stall))
    post = v["after"](env, eng, rundir, sinks) if v.get("after") and ok else {}
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
    d = eng.deliveries(v.get("only")) or {"latency": [], "delivered": 0, "accepted": 0,
                                          "duplicate_deliveries": 0, "samples": []}
    res = {"n": n, "size": size, "inject_mode": mode, "drain": drain, "inject": inj,
           "inject_msgs_per_s": inj.get("msgs_per_s"),
           "delivered_at_sinks": st["messages"], "delivered_logged": d["delivered"],
           "accepted_logged": d["accepted"], "duplicate_deliveries_logged":
               d["duplicate_deliveries"], "deferrals": d.get("deferrals"),
           "failures": d.get("failures"), "log_samples": d["samples"],
           "sink_connections": st["connections"], "sink_cpu_s": st["cpu_s"],
           "inject_cpu_s": injcg.usage_s(), "engine_alive_at_end": alive, "engine_exit": rc}
    for name, rx in (v.get("other_counts") or {}).items():
        o = eng.deliveries(rx) or {}
        res.setdefault("other", {})[name] = {k: o.get(k) for k in (
            "delivered", "deferrals", "failures", "samples")}
    for name, rx in (v.get("log_counts") or {}).items():
        res[name] = count_lines(eng.log_path, rx)
    res.update(memres)
    res.update(snap)
    res.update(pre)
    res.update(post)
    if "stats" in st:
        res["sink_stats"] = st["stats"]
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
    if sinks.store:
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

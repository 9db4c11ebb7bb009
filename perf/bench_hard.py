"""bench_hard.py - delivery where it is hard, for perf/bench.py: healthy destinations
beside bad ones (isolation), a dead first MX (dead_mx), STARTTLS at every sink (tls),
one message to many domains (fanout) and a large held queue (queue_scale). Each case
returns (detail, figures): detail goes into the JSON as it is, figures is a flat dict of
numbers that bench.py summarizes over the repetitions and bench_hard_report prints."""

import json
import os
import re
import signal
import socket
import subprocess
import time
import urllib.request

from bench_util import *  # noqa: F401,F403
from bench_engines import *  # noqa: F401,F403

HARD_CASES = ["isolation", "dead_mx", "tls", "fanout", "queue_scale"]

# The six kinds of bad destination. Each has --bad-domains domains KIND1..KINDj.bench-test
# whose MX host points at the kind's address.
BLACKHOLE_IP = "127.0.3.2"  # a listener with a full accept queue: SYNs to it are dropped
BAD_KINDS = ["tarpit", "syndrop", "greet421", "rcpt451", "slow", "refused"]
BAD_IP = {"tarpit": "127.0.3.1", "syndrop": BLACKHOLE_IP, "greet421": "127.0.3.3",
          "rcpt451": "127.0.3.4", "slow": "127.0.3.5", "refused": "127.0.3.6"}
BAD_WHAT = {"tarpit": "spate-sink --greeting-delay 60000 (greeting after 60 s)",
            "syndrop": "SYN dropped (%s: a listener whose accept queue is full)" % BLACKHOLE_IP,
            "greet421": "smtp-sink -Q CONNECT (421 at greeting, then close)",
            "rcpt451": "spate-sink, recipients tempfail*: 451 at every RCPT",
            "slow": "spate-sink --greeting-delay 2000 --dot-delay 2000 (2 s greeting, 2 s "
                    "after the dot)",
            "refused": "nothing listens (connection refused)"}
HEALTHY_RX = re.compile(r"@b\d+\.%s$" % re.escape(ZONE))
BAD_RX = re.compile(r"@(%s)\d+\.%s$" % ("|".join(BAD_KINDS), re.escape(ZONE)))
# dead_mx: deadmx has MX 10 on the black hole and MX 20 on a sink; livemx only the MX 20
DEADMX, LIVEMX = "deadmx", "livemx"


def hard_zone_records(env):
    """Records the hard cases need in the bench zone (relative names)."""
    recs = []
    for kind in BAD_KINDS:
        for j in range(1, env.args.bad_domains + 1):
            recs.append("%s%d IN MX 10 mx.%s%d.%s." % (kind, j, kind, j, ZONE))
            recs.append("mx.%s%d IN A %s" % (kind, j, BAD_IP[kind]))
    recs += ["%s IN MX 10 mx.down.%s." % (DEADMX, ZONE), "%s IN MX 20 mx.up.%s." % (DEADMX, ZONE),
             "%s IN MX 20 mx.up.%s." % (LIVEMX, ZONE), "mx.down IN A %s" % BLACKHOLE_IP,
             "mx.up IN A %s" % env.sink_ip(0)]
    return recs


def setup_blackhole(env):
    """BLACKHOLE_IP:25 listens with a backlog of 0 and one connection that
    is never accepted fills its queue: Linux then drops every further SYN,
    so a connect to it times out, as with a firewall DROP rule, on loopback
    (no nft/iptables needed). The sockets live in env.blackhole_socks.
    True when a connect to it times out."""
    lis = socket.socket()
    try:
        lis.bind((BLACKHOLE_IP, SINK_PORT))
        lis.listen(0)
        filler = socket.socket()
        filler.connect((BLACKHOLE_IP, SINK_PORT))
    except OSError as e:
        env.notes.append("syn-drop address %s not set up: %s" % (BLACKHOLE_IP, e))
        lis.close()
        return False
    env.blackhole_socks = [lis, filler]
    s = socket.socket()
    s.settimeout(1.0)
    try:
        s.connect((BLACKHOLE_IP, SINK_PORT))
        env.notes.append("syn-drop address %s answered a connect" % BLACKHOLE_IP)
        return False
    except socket.timeout:
        return True
    except OSError as e:
        env.notes.append("syn-drop address %s: %s" % (BLACKHOLE_IP, e))
        return False
    finally:
        s.close()


class BadServer:
    """The receiver of one kind of bad destination on its address, port 25."""

    def __init__(self, env, kind, rundir):
        self.env, self.kind, self.proc = env, kind, None
        self.stats_path = os.path.join(rundir, "bad-%s.stats.json" % kind)
        addr = "%s:%d" % (BAD_IP[kind], SINK_PORT)
        sink = [env.bin("perf/spate-sink"), "-l", addr, "-t", "1", "-q", "-s", self.stats_path]
        argv = {"tarpit": sink + ["--greeting-delay", "60000"], "rcpt451": sink,
                "slow": sink + ["--greeting-delay", "2000", "--dot-delay", "2000"],
                "greet421": ["smtp-sink", "-u", "nobody", "-Q", "CONNECT", addr, "1024"]}.get(kind)
        if argv:
            self.proc = env.reaper.popen(argv, stdout=subprocess.DEVNULL,
                                         stderr=subprocess.DEVNULL)
            wait_for(lambda: is_listening((BAD_IP[kind], SINK_PORT)), 10, "%s server" % kind)

    def stop(self):
        if self.proc is None:
            return {}
        self.env.reaper.stop(self.proc, wait=10)
        try:
            with open(self.stats_path) as f:
                st = json.load(f)
            return {k: st.get(k) for k in ("connections_total", "connections_max", "messages",
                                           "rcpt_tempfail")}
        except (OSError, ValueError):
            return {}


def inject_quiet(env, eng, n, pattern, domains, run_id, size=2048):
    """spate-inject smtp into the engine, outside the measured injection."""
    cg = env.new_cgroup("client")
    return run_inject(env, "smtp", eng.inject_target("smtp"), n, size, run_id, cg,
                      ["--to-pattern", pattern, "--to-domains", str(domains)])


def ratio(a, b):
    return round(a / b, 3) if isinstance(a, (int, float)) and isinstance(b, (int, float)) and b \
        else None


# --------------------------------------------------------------------------
# isolation


def iso_run(env, cls, kind, rep):
    """The healthy workload alone (kind None) or after --bad-msgs messages to KIND."""
    a = env.args
    bad = {}

    def before(env, eng, rundir, sinks):
        bad["server"] = BadServer(env, kind, rundir)
        lp = "tempfail" if kind == "rcpt451" else "u"
        inj = inject_quiet(env, eng, a.bad_msgs, "%s%%d@%s%%d.%s" % (lp, kind, ZONE),
                           a.bad_domains, "bad-%s.%d" % (kind, rep))
        time.sleep(a.bad_lead)  # the engine is busy with the bad mail when the rest comes
        return {"bad_inject_acked": inj.get("acked"), "bad_inject_seconds": inj.get("seconds")}
    v = {"label": "_iso_" + (kind or "alone"), "only": HEALTHY_RX, "stall": max(a.stall, 120),
         "other_counts": {"bad": BAD_RX}}
    if kind:
        v["before"] = before
    try:
        r = case_engine(env, cls, a.hard_n, a.hard_size, rep, "smtp", False, v)
    finally:
        if "server" in bad:
            r_bad = bad["server"].stop()
    if "server" in bad:
        r["bad_server"] = r_bad
    return r


def case_isolation(env, rep):
    a = env.args
    detail, fig = {}, {}
    kinds = [k for k in a.bad_kinds if k != "syndrop" or env.blackhole]
    for eng in a.hard_engines:
        cls = Spate if eng == "spate" else Postfix
        runs = detail[eng] = {}
        for kind in [None] + kinds:
            log("isolation: %s, healthy N=%d %s" % (eng, a.hard_n,
                                                     "beside " + kind if kind else "alone"))
            r = runs[kind or "alone"] = iso_run(env, cls, kind, rep)
            k = kind or "alone"
            fig["%s.%s.e2e_msgs_per_s" % (eng, k)] = r.get("e2e_msgs_per_s")
            fig["%s.%s.latency_p99_ms" % (eng, k)] = r.get("latency_p99_ms")
            fig["%s.%s.healthy_deferrals" % (eng, k)] = r.get("deferrals")
            if kind:
                fig["%s.%s.bad_deferrals" % (eng, k)] = (r.get("other") or {}).get(
                    "bad", {}).get("deferrals")
            log("    healthy e2e %s msg/s, p99 %s ms" % (r.get("e2e_msgs_per_s"),
                                                         r.get("latency_p99_ms")))
        for kind in kinds:
            fig["%s.%s.ratio" % (eng, kind)] = ratio(fig.get("%s.%s.e2e_msgs_per_s" % (eng, kind)),
                                                     fig.get("%s.alone.e2e_msgs_per_s" % eng))
    return detail, fig


# --------------------------------------------------------------------------
# dead first MX


def case_dead_mx(env, rep):
    """N messages to one domain: with MX 10 dropping SYNs and MX 20 a sink, against the
    same domain with only the MX 20. One message goes first and is waited for, so the
    measured N come after the first failure is known (its time is prime_seconds)."""
    a = env.args
    detail, fig = {}, {}
    for which, dom in (("healthy_only", LIVEMX), ("dead_first", DEADMX)):
        def before(env, eng, rundir, sinks, dom=dom):
            t0 = time.time()
            inj = inject_quiet(env, eng, 1, "prime%%d@%s.%s" % (dom, ZONE), 1,
                               "prime-%s.%d" % (dom, rep))
            deadline = t0 + 180
            while sinks.count() < 1 and time.time() < deadline and eng.alive():
                time.sleep(0.02)
            got = sinks.count() >= 1
            if not got:
                env.problem("dead_mx_" + which, rep, "the first message to %s was not "
                            "delivered within 180 s" % dom)
            return {"prime_acked": inj.get("acked"),
                    "prime_seconds": round(time.time() - t0, 3) if got else None}
        if which == "dead_first" and not env.blackhole:
            continue
        log("dead_mx: %s (%s), N=%d" % (which, dom, a.hard_n))
        v = {"label": "_" + which, "before": before,
             "inject_extra": ["--to-pattern", "u%%d@%s.%s" % (dom, ZONE)],
             "only": re.compile(r"^u\d+@%s\.%s$" % (dom, re.escape(ZONE)))}
        r = detail[which] = case_engine(env, Spate, a.hard_n, a.hard_size, rep, "smtp", False, v)
        for k in ("e2e_msgs_per_s", "delivery_span_msgs_per_s", "latency_p99_ms",
                  "prime_seconds", "deferrals"):
            fig["%s.%s" % (which, k)] = r.get(k)
        log("    e2e %s msg/s, first message after %s s" % (r.get("e2e_msgs_per_s"),
                                                            r.get("prime_seconds")))
    fig["ratio"] = ratio(fig.get("dead_first.e2e_msgs_per_s"),
                         fig.get("healthy_only.e2e_msgs_per_s"))
    return detail, fig


# --------------------------------------------------------------------------
# TLS everywhere


def make_cert(env):
    d = os.path.join(env.workdir, "tls")
    cert, key = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
    if not os.path.exists(cert):
        os.makedirs(d, exist_ok=True)
        r = subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                            "ec_paramgen_curve:P-256", "-nodes", "-days", "2", "-subj",
                            "/CN=mx.%s" % ZONE, "-addext", "subjectAltName=DNS:*.%s" % ZONE,
                            "-keyout", key, "-out", cert], capture_output=True, text=True,
                           timeout=60)
        if r.returncode != 0:
            raise SetupError("openssl req: %s" % r.stderr)
    return cert, key


POSTFIX_TLS = ("smtp_tls_security_level=may", "smtp_tls_loglevel=1",
               "smtp_tls_session_cache_database=btree:${data_directory}/smtp_scache")
TLS_LOG = {"spate": re.compile(r" => .* X=TLS"), "postfix": re.compile(r"TLS connection established")}


def case_tls(env, rep):
    """Each engine, e2e and drain, to spate-sinks in clear text and with STARTTLS."""
    a = env.args
    cert, key = make_cert(env)
    detail, fig = {}, {}
    for eng in a.hard_engines:
        cls = Spate if eng == "spate" else Postfix
        for tls in (False, True):
            for drain in (False, True):
                name = "%s.%s.%s" % (eng, "tls" if tls else "plain", "drain" if drain else "e2e")
                log("tls: %s, N=%d" % (name, a.hard_n))
                v = {"label": "_tls" if tls else "_plain",
                     "sinks": {"kind": "spate",
                               "extra": ["--tls-cert", cert, "--tls-key", key] if tls else []},
                     "engine_extra": POSTFIX_TLS if tls and eng == "postfix" else (),
                     "log_counts": {"tls_log_lines": TLS_LOG[eng]}}
                r = detail[name] = case_engine(env, cls, a.hard_n, a.hard_size, rep, "smtp",
                                               drain, v)
                st = r.get("sink_stats") or {}
                for k in ("e2e_msgs_per_s", "drain_msgs_per_s", "inject_msgs_per_s",
                          "cpu_s_per_1000", "sink_connections", "tls_log_lines"):
                    if r.get(k) is not None:
                        fig["%s.%s" % (name, k)] = r.get(k)
                fig[name + ".tls_handshakes"] = st.get("tls_sessions")
                fig[name + ".tls_failed"] = st.get("tls_failed")
                # handshakes that resumed an earlier session (spate-sink's tls_resumed)
                fig[name + ".tls_resumed"] = st.get("tls_resumed")
                log("    %s msg/s, %s handshakes, CPU %s s/1000" % (
                    r.get("drain_msgs_per_s") or r.get("e2e_msgs_per_s"), st.get("tls_sessions"),
                    r.get("cpu_s_per_1000")))
                if tls and not st.get("tls_sessions"):
                    env.problem("tls_" + name, rep, "no TLS handshake at the sinks")
    for kind in ("e2e_msgs_per_s", "drain_msgs_per_s", "cpu_s_per_1000"):
        stage = "drain" if kind.startswith("drain") else "e2e"
        for eng in a.hard_engines:
            fig["ratio.%s.tls/plain.%s" % (eng, kind)] = ratio(
                fig.get("%s.tls.%s.%s" % (eng, stage, kind)),
                fig.get("%s.plain.%s.%s" % (eng, stage, kind)))
        fig["ratio.spate/postfix.tls.%s" % kind] = ratio(
            fig.get("spate.tls.%s.%s" % (stage, kind)), fig.get("postfix.tls.%s.%s" % (stage, kind)))
    return detail, fig


# --------------------------------------------------------------------------
# fan-out: one message, many recipients, many domains


def fanout_message(size):
    hdr = ("From: <%s>\r\nTo: <undisclosed-recipients:;>\r\nSubject: fan-out\r\n"
           "Message-ID: <fanout.%d@inject.%s>\r\n\r\n" % (SENDER, int(time.time()), ZONE))
    line = "x" * 76 + "\r\n"
    body = line * max(1, (size - len(hdr)) // len(line))
    return hdr + body


class SmtpPipe:
    """A small pipelining SMTP client: one transaction = one write (MAIL, every RCPT, DATA)
    and the replies read back in order (RFC 2920), the body after the 354."""

    def __init__(self, addr, timeout):
        host, port = addr.rsplit(":", 1)
        self.s = socket.create_connection((host, int(port)), timeout=timeout)
        self.f = self.s.makefile("rb")
        self.reply()
        self.cmd(b"EHLO fanout.%s\r\n" % ZONE.encode())

    def reply(self):
        lines = []
        while True:
            line = self.f.readline()
            if not line:
                raise OSError("connection closed")
            lines.append(line)
            if len(line) < 4 or line[3:4] != b"-":
                return int(line[:3]), b"".join(lines)

    def cmd(self, data):
        self.s.sendall(data)
        return self.reply()

    def transaction(self, sender, rcpts, message):
        """Send one transaction; the recipients refused with a 4xx, and the counts."""
        out = ["MAIL FROM:<%s>\r\n" % sender] + ["RCPT TO:<%s>\r\n" % r for r in rcpts]
        self.s.sendall(("".join(out) + "DATA\r\n").encode())
        code, _ = self.reply()
        if code != 250:
            raise OSError("MAIL answered %d" % code)
        again, hard, ok = [], 0, 0
        for r in rcpts:
            code, _ = self.reply()
            if code == 250 or code == 251:
                ok += 1
            elif code // 100 == 4:
                again.append(r)
            else:
                hard += 1
        code, _ = self.reply()  # DATA
        if code == 354:
            self.s.sendall(message.encode() + b".\r\n")
            code, text = self.reply()
            if code != 250:
                raise OSError("end of data answered %s" % text)
        elif ok:
            raise OSError("DATA answered %d with %d recipients accepted" % (code, ok))
        else:
            self.cmd(b"RSET\r\n")
        return again, ok, hard

    def close(self):
        try:
            self.cmd(b"QUIT\r\n")
        except OSError:
            pass
        self.s.close()


def fanout_inject(env, eng, mode, rcpts, message):
    """Inject one message to every recipient; what the engine answered."""
    t0 = time.time()
    if mode == "http":
        body = json.dumps({"envelope_sender": SENDER, "recipients": rcpts,
                           "content": message}).encode()
        req = urllib.request.Request("http://%s:%d/api/v1/inject" % SPATE_HTTP, data=body,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=env.args.phase_timeout) as r:
                ans = json.loads(r.read().decode())
        except (OSError, ValueError) as e:
            return {"error": str(e), "start": t0}
        return {"start": t0, "accept_seconds": round(time.time() - t0, 4), "transactions": 1,
                "accepted": ans.get("accepted"), "rejected": len(ans.get("rejected") or []),
                "ids": len(ans.get("ids") or [])}
    per = env.args.fanout_smtp_rcpts
    todo, trans, accepted, hard, refused_4xx = list(rcpts), 0, 0, 0, 0
    try:
        c = SmtpPipe(eng.inject_target("smtp"), env.args.phase_timeout)
        while todo and trans < 1000:  # each transaction takes at least one, or it stops
            again, ok, h = c.transaction(SENDER, todo[:per], message)
            trans += 1
            accepted += ok
            hard += h
            refused_4xx += len(again)
            if ok == 0:
                break
            todo = again + todo[per:]
        c.close()
    except OSError as e:
        return {"error": "SMTP: %s after %d transactions" % (e, trans), "start": t0,
                "accepted": accepted, "transactions": trans}
    return {"start": t0, "accept_seconds": round(time.time() - t0, 4), "transactions": trans,
            "accepted": accepted, "rejected": hard + len(todo), "rcpt_4xx_resent": refused_4xx}


def udp_counters():
    """The namespace's UDP counters (/proc/net/snmp): InErrors, RcvbufErrors..."""
    try:
        with open("/proc/net/snmp") as f:
            rows = [l.split() for l in f if l.startswith("Udp:")]
        return {k: int(v) for k, v in zip(rows[0][1:], rows[1][1:])}
    except (OSError, IndexError, ValueError):
        return {}


def udp_socket_drops():
    """Datagrams dropped so far by the namespace's open UDP sockets (/proc/net/udp):
    those of the DNS server (port 53) and those of everyone else (the engine's resolver)."""
    out = {"dns_server": 0, "others": 0}
    try:
        with open("/proc/net/udp") as f:
            next(f)
            for line in f:
                v = line.split()
                port = int(v[1].split(":")[1], 16)
                out["dns_server" if port == 53 else "others"] += int(v[-1])
    except (OSError, ValueError, IndexError, StopIteration):
        pass
    return out


def fanout_run(env, cls, mode, rep):
    a = env.args
    r_n, dom = a.fanout_rcpts, a.fanout_domains
    rundir = env.rundir("fanout-%s-%s-%d" % (cls.name, mode, rep))
    sinks = Sinks(env, rundir, kind="spate", store=True, count="recipients")
    sinks.start()
    eng = cls(env, rundir)
    eng.start()
    time.sleep(0.5)
    cpu0 = eng.cg.usage_s()
    udp0 = udp_counters()
    # in domain order, as a sender that groups its recipients does: split into SMTP
    # transactions, each domain's recipients stay together
    rcpts = ["u%d@b%d.%s" % (i, i % dom + 1, ZONE) for i in sorted(
        range(r_n), key=lambda i: (i % dom, i))]
    ans = fanout_inject(env, eng, mode, rcpts, fanout_message(a.hard_size))
    ok = "error" not in ans and sinks.wait_count(r_n, a.phase_timeout, a.stall)
    t_done = sinks.target_time
    time.sleep(1.0)
    cpu1 = eng.cg.usage_s()
    udp1 = udp_counters()
    drops = udp_socket_drops()  # before the engine closes its sockets
    rc = eng.stop()
    st = sinks.stop()
    d = eng.deliveries() or {"delivered": 0, "deferrals": None, "samples": []}
    envs = sinks.stored_envelopes()
    per = [len(e.get("rcpt_to") or []) for e in envs]
    got = [x for e in envs for x in (e.get("rcpt_to") or [])]
    res = {"recipients": r_n, "domains": dom, "inject": ans,
           "accept_seconds": ans.get("accept_seconds"),
           "delivery_seconds": round(t_done - ans["start"], 3) if t_done else None,
           "recipients_at_sinks": len(got), "distinct_recipients_at_sinks": len(set(got)),
           "transactions_at_sinks": len(per),
           "rcpt_per_transaction_mean": round(sum(per) / len(per), 2) if per else None,
           "rcpt_per_transaction_min": min(per) if per else None,
           "rcpt_per_transaction_max": max(per) if per else None,
           "sink_connections": st["connections"], "delivered_logged": d["delivered"],
           "deferrals": d.get("deferrals"), "failures": d.get("failures"),
           "log_samples": d["samples"], "engine_exit": rc,
           # datagrams the kernel dropped meanwhile (DNS answers or queries on loopback)
           "udp_rcvbuf_errors": udp1.get("RcvbufErrors", 0) - udp0.get("RcvbufErrors", 0),
           "udp_in_errors": udp1.get("InErrors", 0) - udp0.get("InErrors", 0),
           "udp_drops_at_dns_server": drops["dns_server"],
           "udp_drops_at_other_sockets": drops["others"],
           "cpu_s": round(cpu1 - cpu0, 3) if cpu0 is not None and cpu1 is not None else None}
    if res["delivery_seconds"]:
        res["recipients_per_s"] = round(r_n / res["delivery_seconds"], 1)
    label = "fanout_%s_%s" % (cls.name, mode)
    if "error" in ans:
        env.problem(label, rep, "injection failed: %s" % ans["error"])
    elif ans.get("accepted") != r_n:
        env.problem(label, rep, "%s of %d recipients accepted" % (ans.get("accepted"), r_n))
    if not ok:
        env.problem(label, rep, "timed out or stalled with %d of %d recipients at the sinks" %
                    (len(got), r_n))
    if len(got) != r_n or len(set(got)) != r_n:
        env.problem(label, rep, "sinks hold %d recipients (%d distinct) for %d" % (
            len(got), len(set(got)), r_n))
    if d["delivered"] != r_n:
        env.problem(label, rep, "engine logged %d deliveries for %d recipients" % (
            d["delivered"], r_n))
    for s in res["log_samples"]:
        log("    log: " + s)
    return res


def case_fanout(env, rep):
    a = env.args
    detail, fig = {}, {}
    plan = [(Spate, "http"), (Spate, "smtp")]
    if "postfix" in a.hard_engines:
        plan.append((Postfix, "smtp"))
    if "spate" not in a.hard_engines:
        plan = plan[2:]
    for cls, mode in plan:
        name = "%s.%s" % (cls.name, mode)
        log("fanout: %s, 1 message to %d recipients over %d domains" % (
            name, a.fanout_rcpts, a.fanout_domains))
        r = detail[name] = fanout_run(env, cls, mode, rep)
        for k in ("accept_seconds", "delivery_seconds", "recipients_per_s",
                  "transactions_at_sinks", "rcpt_per_transaction_mean", "deferrals",
                  "sink_connections", "cpu_s", "udp_rcvbuf_errors", "udp_drops_at_dns_server",
                  "udp_drops_at_other_sockets"):
            fig["%s.%s" % (name, k)] = r.get(k)
        fig[name + ".transactions_in"] = r["inject"].get("transactions")
        log("    accepted in %s s, delivered in %s s, %s rcpt/transaction, %s deferrals" % (
            r.get("accept_seconds"), r.get("delivery_seconds"),
            r.get("rcpt_per_transaction_mean"), r.get("deferrals")))
    return detail, fig


# --------------------------------------------------------------------------
# queue scale


def proc_status(pid):
    out = {}
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(("VmRSS:", "VmHWM:")):
                    out[line.split(":")[0]] = int(line.split()[1]) * 1024
    except OSError:
        pass
    return out


def spool_usage(path):
    files = apparent = blocks = 0
    for root, _dirs, names in os.walk(path):
        for n in names:
            try:
                st = os.lstat(os.path.join(root, n))
            except OSError:
                continue
            files += 1
            apparent += st.st_size
            blocks += st.st_blocks * 512
    return {"files": files, "apparent_bytes": apparent, "disk_bytes": blocks}


def last_start_line(path):
    """(time, messages recovered) of the last "spated ... started" line of the log."""
    rx = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)\.(\d{3}) spated \S+ started: .*?"
                    r"(\d+) queued message\(s\) recovered")
    found = None
    try:
        with open(path, errors="replace") as f:
            for line in f:
                m = rx.match(line)
                if m:
                    found = (time.mktime(time.strptime(m.group(1), "%Y-%m-%d %H:%M:%S")) +
                             int(m.group(2)) / 1000.0, int(m.group(3)))
    except OSError:
        pass
    return found


def case_queue_scale(env, rep):
    """N messages held (queue_only), measured, spated killed with SIGKILL and started
    again with -qf: time to the first delivery, drain rate, nothing lost."""
    a = env.args
    n, size = a.queue_n, a.hard_size
    rundir = env.rundir("queue-scale-%d-%d" % (n, rep))
    sinks = Sinks(env, rundir)
    sinks.start()
    eng = Spate(env, rundir, False, ["queue_only = true"])
    eng.start()
    time.sleep(0.5)
    mem0 = proc_status(eng.proc.pid)
    log("queue_scale: injecting %d x %d bytes over HTTP with queue_only = true" % (n, size))
    inj = run_inject(env, "http", eng.inject_target("http"), n, size, "qs.%d" % rep,
                     env.new_cgroup("client"))
    time.sleep(1.0)
    mem1 = proc_status(eng.proc.pid)
    held = sinks.count()
    du = spool_usage(eng.spool)
    os.kill(eng.proc.pid, signal.SIGKILL)
    eng.proc.wait(timeout=30)
    log("queue_scale: %d queued, RSS %.1f MB; killed with SIGKILL, starting with -qf" % (
        inj.get("acked") or 0, mem1.get("VmRSS", 0) / 1e6))
    t_start = time.time()
    eng.start(["-qf"], timeout=max(60, a.phase_timeout))
    t_up = time.time()
    ok = sinks.wait_count(n, a.phase_timeout, a.stall)
    t_done, t_first = sinks.target_time, sinks.first_time
    mem2 = proc_status(eng.proc.pid)
    time.sleep(1.0)
    rc = eng.stop()
    st = sinks.stop()
    d = eng.deliveries() or {"delivered": 0, "duplicate_deliveries": 0, "samples": []}
    acked = inj.get("acked") or 0
    started = last_start_line(eng.log_path)
    res = {"n": n, "size": size, "inject": inj, "inject_msgs_per_s": inj.get("msgs_per_s"),
           "vmrss_before_bytes": mem0.get("VmRSS"), "vmrss_queued_bytes": mem1.get("VmRSS"),
           "vmhwm_queued_bytes": mem1.get("VmHWM"),
           "rss_per_queued_msg_bytes": round((mem1.get("VmRSS", 0) - mem0.get("VmRSS", 0)) /
                                             max(1, acked), 1) if mem1 and mem0 else None,
           "spool": du, "spool_bytes_per_msg": round(du["disk_bytes"] / max(1, acked), 1),
           "spool_apparent_bytes_per_msg": round(du["apparent_bytes"] / max(1, acked), 1),
           "spool_files": du["files"],
           "delivered_while_held": held,
           "restart_to_listening_s": round(t_up - t_start, 3),
           "recovered_logged": started[1] if started else None,
           "restart_to_started_logged_s": round(started[0] - t_start, 3) if started else None,
           "restart_to_first_delivery_s": round(t_first - t_start, 3) if t_first else None,
           "vmhwm_after_restart_bytes": mem2.get("VmHWM"),
           "delivered_at_sinks": st["messages"], "delivered_logged": d["delivered"],
           "duplicate_deliveries_logged": d["duplicate_deliveries"],
           "deferrals": d.get("deferrals"), "log_samples": d["samples"], "engine_exit": rc}
    if t_done and t_first:
        res["drain_msgs_per_s"] = round(n / max(1e-3, t_done - t_first), 1)
        res["drain_from_restart_msgs_per_s"] = round(n / (t_done - t_start), 1)
        res["restart_to_all_delivered_s"] = round(t_done - t_start, 3)
    if held:
        env.problem("queue_scale", rep, "%d messages delivered while queue_only held them" % held)
    if acked != n:
        env.problem("queue_scale", rep, "injection acknowledged %d of %d" % (acked, n))
    env.check("queue_scale", rep, res, n, st["messages"], d["delivered"], ok)
    return res, {k: res.get(k) for k in (
        "inject_msgs_per_s", "rss_per_queued_msg_bytes", "vmrss_queued_bytes",
        "spool_bytes_per_msg", "spool_apparent_bytes_per_msg", "spool_files",
        "recovered_logged", "restart_to_started_logged_s", "restart_to_listening_s", "restart_to_first_delivery_s", "drain_msgs_per_s",
        "drain_from_restart_msgs_per_s", "vmhwm_after_restart_bytes", "delivered_at_sinks")}


HARD_RUNNERS = {"isolation": case_isolation, "dead_mx": case_dead_mx, "tls": case_tls,
                "fanout": case_fanout, "queue_scale": case_queue_scale}

"""bench_report.py - the summaries of perf/bench.py: medians and ranges over the
repetitions, the headline figures, the printed table and the machine description."""

import os
import platform
import statistics
import subprocess

from bench_util import *  # noqa: F401,F403

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


# --------------------------------------------------------------------------
# the hard cases (bench_hard.py): one table each, from the figures' medians


def _m(c, key, digits=0):
    return fmt(c["summary"].get(key), digits)


def print_hard(case, c, a):
    """The table of one hard case."""
    eng = [e for e in ("spate", "postfix") if e in a.hard_engines]
    if case == "isolation":
        print("\n=== isolation: healthy N=%d x %d bytes to %d domains, alone and after %d "
              "messages to %d bad domains of one kind ===" % (a.hard_n, a.hard_size, a.domains,
                                                             a.bad_msgs, a.bad_domains))
        head = "%-10s" % ""
        for e in eng:
            head += " %-20s %-7s %-9s %-9s" % (e + " e2e msg/s", "ratio", "p99 ms", "deferrals")
        print(head + "   (deferrals: healthy/bad)")
        for k in ["alone"] + list(a.bad_kinds):
            row = "%-10s" % k
            for e in eng:
                ratio = "1" if k == "alone" else _m(c, "%s.%s.ratio" % (e, k), 3)
                dfr = "%s/%s" % (_m(c, "%s.%s.healthy_deferrals" % (e, k)),
                                 _m(c, "%s.%s.bad_deferrals" % (e, k)))
                row += " %-20s %-7s %-9s %-9s" % (_m(c, "%s.%s.e2e_msgs_per_s" % (e, k)), ratio,
                                                  _m(c, "%s.%s.latency_p99_ms" % (e, k), 1), dfr)
            print(row)
    elif case == "dead_mx":
        print("\n=== dead_mx: spate, N=%d x %d bytes to one domain, after its first message "
              "was delivered ===" % (a.hard_n, a.hard_size))
        for w, title in (("healthy_only", "only MX 20 (healthy)"),
                         ("dead_first", "MX 10 drops SYNs, MX 20 healthy")):
            print("%-34s e2e %s msg/s, p99 %s ms, deferrals %s; first message delivered after "
                  "%s s" % (title, _m(c, w + ".e2e_msgs_per_s"), _m(c, w + ".latency_p99_ms", 1),
                            _m(c, w + ".deferrals"), _m(c, w + ".prime_seconds", 2)))
        print("ratio dead first / healthy only: %s (goal >= 0.9)" % _m(c, "ratio", 3))
    elif case == "tls":
        print("\n=== tls: N=%d x %d bytes, spate-sinks with and without STARTTLS; spate's "
              "defaults, Postfix smtp_tls_security_level = may + session cache ===" % (
                  a.hard_n, a.hard_size))
        cols = [(e, t) for e in eng for t in ("plain", "tls")]
        print("%-28s" % "" + "".join(" %-20s" % ("%s %s" % ct) for ct in cols))
        for title, key, stage, dg in (("end to end (msg/s)", "e2e_msgs_per_s", "e2e", 0),
                                      ("drain (msg/s)", "drain_msgs_per_s", "drain", 0),
                                      ("CPU s / 1000 msgs (e2e)", "cpu_s_per_1000", "e2e", 3),
                                      ("TLS handshakes at sinks, e2e", "tls_handshakes", "e2e", 0),
                                      ("  same, drain", "tls_handshakes", "drain", 0),
                                      ("  of them resumed, e2e", "tls_resumed", "e2e", 0),
                                      ("  same, drain", "tls_resumed", "drain", 0),
                                      ("connections at sinks, e2e", "sink_connections", "e2e", 0),
                                      ("TLS in the engine's log, e2e", "tls_log_lines", "e2e", 0)):
            print("%-28s" % title + "".join(" %-20s" % _m(c, "%s.%s.%s.%s" % (e, t, stage, key),
                                                           dg) for e, t in cols))
        print("spate TLS/plain: e2e %s (goal >= 0.6), drain %s; spate/Postfix with TLS: e2e %s "
              "(goal >= 15), drain %s; Postfix TLS/plain: e2e %s" % (
                  _m(c, "ratio.spate.tls/plain.e2e_msgs_per_s", 3),
                  _m(c, "ratio.spate.tls/plain.drain_msgs_per_s", 3),
                  _m(c, "ratio.spate/postfix.tls.e2e_msgs_per_s", 2),
                  _m(c, "ratio.spate/postfix.tls.drain_msgs_per_s", 2),
                  _m(c, "ratio.postfix.tls/plain.e2e_msgs_per_s", 3)))
    elif case == "fanout":
        print("\n=== fanout: one message of %d bytes to %d recipients over %d domains ===" % (
            a.hard_size, a.fanout_rcpts, a.fanout_domains))
        print("%-14s %-10s %-12s %-9s %-11s %-9s %-10s %-11s %-10s %-8s" % (
            "", "accept s", "delivered s", "rcpt/s", "txn in", "txn out", "rcpt/txn",
            "connections", "deferrals", "UDP drops"))
        for name in sorted(set(k.rsplit(".", 1)[0] for k in c["summary"])):
            print("%-14s %-10s %-12s %-9s %-11s %-9s %-10s %-11s %-10s %-8s" % (
                name, _m(c, name + ".accept_seconds", 3), _m(c, name + ".delivery_seconds", 2),
                _m(c, name + ".recipients_per_s"), _m(c, name + ".transactions_in"),
                _m(c, name + ".transactions_at_sinks"), _m(c, name + ".rcpt_per_transaction_mean",
                                                          2),
                _m(c, name + ".sink_connections"), _m(c, name + ".deferrals"),
                _m(c, name + ".udp_rcvbuf_errors")))
    elif case == "queue_scale":
        print("\n=== queue_scale: spate, N=%d x %d bytes held with queue_only, then SIGKILL "
              "and a start with -qf ===" % (a.queue_n, a.hard_size))
        for title, key, dg in (("durable injection, HTTP (msg/s)", "inject_msgs_per_s", 0),
                               ("RSS per queued message (bytes)", "rss_per_queued_msg_bytes", 0),
                               ("VmRSS with N queued (bytes)", "vmrss_queued_bytes", 0),
                               ("spool per message, on disk (bytes)", "spool_bytes_per_msg", 0),
                               ("  apparent size (bytes)", "spool_apparent_bytes_per_msg", 0),
                               ("  files in the spool", "spool_files", 0),
                               ("messages recovered (main log)", "recovered_logged", 0),
                               ("restart to 'started' logged (s)", "restart_to_started_logged_s",
                                2),
                               ("restart to listening (s)", "restart_to_listening_s", 2),
                               ("restart to first delivery (s)", "restart_to_first_delivery_s", 2),
                               ("drain from first delivery (msg/s)", "drain_msgs_per_s", 0),
                               ("drain from restart (msg/s)", "drain_from_restart_msgs_per_s", 0),
                               ("VmHWM after the restart (bytes)", "vmhwm_after_restart_bytes", 0),
                               ("delivered at the sinks", "delivered_at_sinks", 0)):
            print("%-38s %s" % (title, _m(c, key, dg)))

#!/usr/bin/env python3
"""kill9.py - what kill -9 during delivery costs: losses, alterations, duplicates.

SYNOPSIS
    python3 perf/kill9.py --build DIR [--cycles 30] [--messages 1000] [--domains 4]
                          [--signal kill|term] [--dot-delay MS]
                          [--injectors 4] [--batch 50] [--seed S] [--time-limit 240]
                          [--keep]

DESCRIPTION
    A benchmark, not a test: it prints figures and exits 0 unless the set-up failed.
    Loopback only. It uses the end-to-end harness (tests/e2e/spatetest.py): one nsd
    serving D domains dK.spate-test, one spate-sink storing every message it accepts
    (perf/sink.c, DIR/perf/spate-sink), and DIR/spated on a spool that persists
    across cycles. Each cycle:

      1. start spated (it recovers what the previous cycle left queued and
         starts delivering it);
      2. inject --messages messages over HTTP as fast as it takes them
         (--injectors connections, --batch messages per request); message i of
         cycle c goes to u<c>x<i>@dK, every fourth one also to v<c>x<i>@dK'
         (another domain), with a header "X-Kill9: <c>-<i>" and a body derived
         from that tag;
      3. pick f uniformly in [0.05, 0.95] and, once spated's delivered-recipients
         counter (polled every 5 ms) reaches f x (recipients queued at start +
         recipients of the batch), kill -9 it. Injection may still be running
         then (kills_during_injection counts those): requests that get no 200
         are not acknowledged.

    With the defaults the 30 cycles take one to two minutes.

    At the end spated runs once more until the queue is empty, is stopped with
    SIGTERM, and every stored message is counted per (tag, recipient):

      acknowledged   messages whose inject request was answered 200
      lost           acknowledged (message, recipient) pairs never delivered
      altered        deliveries whose content differs from what was injected
      duplicates     deliveries beyond the first of a pair; duplicate_pct is
                     their share of all deliveries
      dups_after_log duplicates of a delivery that spated had logged ("=>")
                     before it died: the delivered state was not yet on disk
      dups_in_flight the other duplicates: the receiver had the message but
                     spated died before it read the 250
      after_log_ms_before_kill, in_flight_stored_ms_before_kill
                     min, median and max milliseconds from the "=>" log line (or
                     from when the receiver stored the message: file times, a few
                     ms coarse) to the nearest kill, over those duplicates; a
                     negative figure is after the kill (a receiver still reading
                     what spated had sent)
      dups_per_kill  mean duplicates per kill (each put with the kill nearest
                     to it) for kills that came while injection was running and
                     for the others: the two cases differ a lot, and how many
                     kills fall in each depends on how fast spated takes mail
      inject_request_ms  median and 90th percentile time of the inject requests
                     answered 200 (each waits for its group commit)

    The last line of output is a one-line JSON summary with these figures. The
    random choices are seeded (--seed, default 1), so a run is reproducible up to
    timing; kills_late counts kills that came only after a 60 s wait for their
    target. --time-limit bounds the cycles (the drain gets at most 60 s more).

EXAMPLE
    cmake -S . -B build-rel -DCMAKE_BUILD_TYPE=Release && cmake --build build-rel -j2
    python3 perf/kill9.py --build build-rel
"""

import argparse
import glob
import json
import os
import random
import signal
import re
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests", "e2e"))

import spatetest  # noqa: E402
from spatetest import Env, canonical, strip_trace_headers, wait_for  # noqa: E402

TLD = spatetest.TLD
TAG = re.compile(rb"\r\nX-Kill9: (\d+-\d+)\r\n")


def tag_of(c, i):
    return "%d-%d" % (c, i)


def rcpts_of(c, i, domains):
    out = ["u%dx%d@d%d.%s" % (c, i, i % domains + 1, TLD)]
    if i % 4 == 0:
        out.append("v%dx%d@d%d.%s" % (c, i, (i + 1) % domains + 1, TLD))
    return out


def body_of(tag):
    """The message content for a tag: a few hundred to a few thousand octets."""
    rng = random.Random("kill9 " + tag)
    lines = ["Subject: kill9 %s" % tag, "X-Kill9: %s" % tag, ""]
    for _ in range(rng.randint(5, 40)):
        n = rng.randint(10, 38)
        lines.append("%0*x" % (2 * n, rng.getrandbits(8 * n)))
    return "\r\n".join(lines) + "\r\n"


def tag_rcpts(tag, domains):
    c, i = (int(x) for x in tag.split("-"))
    return rcpts_of(c, i, domains)


def request_of(batch, domains):
    """The JSON body of one inject request for a list of tags."""
    return json.dumps({"messages": [{"envelope_sender": "s@x.%s" % TLD,
                                     "recipients": tag_rcpts(t, domains),
                                     "content": body_of(t)} for t in batch]}).encode()


def injector(url, items, acked, stop, took):
    """POST items ((tags, request body) pairs) one request each, until told to
    stop or refused; add the tags of requests answered 200, and to took the
    milliseconds each of those took."""
    for batch, body in items:
        if stop.is_set():
            return
        t = time.monotonic()
        try:
            status, _ = spatetest.http_inject(url, body, timeout=30)
        except OSError:
            return
        if status != 200:
            return
        took.append((time.monotonic() - t) * 1000.0)
        acked.update(batch)


def counter(url, name):
    try:
        return spatetest.metrics(url, timeout=5).get(name)
    except (OSError, AssertionError):
        return None


def run_cycle(env, conf, c, args, rng, acked, stats):
    """Start spated, inject the cycle's batch, kill -9 it part way through
    delivering."""
    tags = [tag_of(c, i) for i in range(args.messages)]
    batches = [(b, request_of(b, args.domains))
               for b in (tags[k:k + args.batch] for k in range(0, len(tags), args.batch))]
    f = rng.uniform(0.05, 0.95)
    spated = env.start_spated(conf, timeout=60)
    queued = int(counter(spated.http_url, "spate_queue_recipients") or 0)
    target = max(1, int(f * (queued + sum(len(rcpts_of(c, i, args.domains))
                                          for i in range(args.messages)))))
    stop = threading.Event()
    url = spated.http_url + "/api/v1/inject"
    threads = [threading.Thread(target=injector, args=(url, batches[n::args.injectors], acked,
                                                       stop, stats["inject_ms"]))
               for n in range(args.injectors)]
    for t in threads:
        t.start()
    deadline, delivered = time.monotonic() + 60, 0
    while time.monotonic() < deadline and delivered < target:
        time.sleep(0.005)
        delivered = int(counter(spated.http_url, "spate_recipients_delivered_total") or 0)
    injecting = any(t.is_alive() for t in threads)
    stats["kill_times"].append(time.time())
    stats["kill_injecting"].append(injecting)
    if args.signal == "term":  # a clean stop: it may wait for replies (shutdown_grace)
        spated.popen.send_signal(signal.SIGTERM)
        spated.popen.wait(90)
    else:
        spated.kill9()
    stop.set()
    for t in threads:
        t.join(60)
    stats["kills"] += 1
    stats["kills_during_injection"] += injecting
    stats["kills_late"] += delivered < target
    env.procs.remove(spated)


def drain(env, conf, timeout):
    spated = env.start_spated(conf, timeout=60)
    wait_for(lambda: counter(spated.http_url, "spate_queue_messages") == 0, timeout, 0.2,
             what="the queue to drain")
    if spated.stop() != 0:
        raise AssertionError("spated did not stop cleanly")


def sink_store(sink):
    """[(envelope, bytes, mtime)] of every message the sink stored."""
    out = []
    for path in sorted(glob.glob(os.path.join(sink.dir, "[0-9]*.eml"))):
        with open(path[:-4] + ".env", "rb") as f:
            envelope = json.loads(f.read().decode("utf-8", "replace"))
        with open(path, "rb") as f:
            out.append((envelope, f.read(), os.stat(path).st_mtime))
    return out


def log_time(line):
    """Unix time of a main log line ("YYYY-mm-dd HH:MM:SS.mmm ..."), or None."""
    try:
        return time.mktime(time.strptime(line[:19], "%Y-%m-%d %H:%M:%S")) + \
            int(line[20:23]) / 1000.0
    except (ValueError, IndexError):
        return None


def nearest_kill(t, kills):
    """Index of the kill nearest to time t, or None."""
    if t is None or not kills:
        return None
    return min(range(len(kills)), key=lambda i: abs(kills[i] - t))


def before_kill_ms(t, kills):
    """Milliseconds from t to the nearest kill (negative: t came after it), or None."""
    i = nearest_kill(t, kills)
    return None if i is None else round((kills[i] - t) * 1000.0, 1)


def ms_summary(values):
    v = sorted(x for x in values if x is not None)
    if not v:
        return None
    return {"min": v[0], "median": v[len(v) // 2], "max": v[-1]}


def per_kill(dups_at, injecting):
    """Mean duplicates per kill, for kills during injection and after it."""
    out = {}
    for name, flag in (("during_injection", True), ("after_injection", False)):
        idx = [i for i, f in enumerate(injecting) if f == flag]
        out[name] = round(sum(dups_at.get(i, 0) for i in idx) / len(idx), 1) if idx else None
    return out


def analyse(env, sink, acked, domains, kills, injecting):
    counts, first_stored, altered, unknown = {}, {}, 0, 0
    for envelope, data, mtime in sink_store(sink):
        m = TAG.search(data)
        if not m:
            unknown += 1
            continue
        tag = m.group(1).decode()
        if strip_trace_headers(data) != canonical(body_of(tag).encode()):
            altered += 1
        for r in envelope["rcpt_to"]:
            counts[(tag, r)] = counts.get((tag, r), 0) + 1
            first_stored.setdefault(r, mtime)
    logged, first_logged = {}, {}
    rx = re.compile(r" => (\S+@\S+) ")
    for line in env.main_log():
        m = rx.search(line)
        if m:
            logged[m.group(1)] = logged.get(m.group(1), 0) + 1
            first_logged.setdefault(m.group(1), log_time(line))
    want = {(t, r) for t in acked for r in tag_rcpts(t, domains)}
    lost = sum(1 for p in want if p not in counts)
    deliveries = sum(counts.values())
    dups = after_log = 0
    log_ms, flight_ms, dups_at = [], [], {}
    for (tag, r), n in counts.items():
        if n > 1:
            dups += n - 1
            k = max(0, min(n - 1, logged.get(r, 0) - 1))
            after_log += k
            t = first_logged.get(r) if k else first_stored.get(r)
            (log_ms if k else flight_ms).append(before_kill_ms(t, kills))
            i = nearest_kill(t, kills)
            if i is not None:
                dups_at[i] = dups_at.get(i, 0) + n - 1
    return {
        "acknowledged": len(acked),
        "acknowledged_rcpts": len(want),
        "deliveries": deliveries,
        "delivered_pairs": len(counts),
        "unacknowledged_delivered_pairs": sum(1 for p in counts if p not in want),
        "lost": lost,
        "altered": altered + unknown,
        "duplicates": dups,
        "duplicate_pct": round(100.0 * dups / deliveries, 3) if deliveries else 0.0,
        "dups_after_log": after_log,
        "dups_in_flight": dups - after_log,
        "after_log_ms_before_kill": ms_summary(log_ms),
        "in_flight_stored_ms_before_kill": ms_summary(flight_ms),
        "dups_per_kill": per_kill(dups_at, injecting),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", required=True, help="build directory (spated, perf/spate-sink)")
    ap.add_argument("--cycles", type=int, default=30)
    ap.add_argument("--messages", type=int, default=1000, help="messages injected per cycle")
    ap.add_argument("--domains", type=int, default=4)
    ap.add_argument("--injectors", type=int, default=4, help="concurrent HTTP connections")
    ap.add_argument("--batch", type=int, default=50, help="messages per inject request")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--time-limit", type=float, default=240, help="seconds for the cycles")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    ap.add_argument("--signal", choices=("kill", "term"), default="kill",
                    help="stop spated with SIGKILL (default) or SIGTERM")
    ap.add_argument("--dot-delay", type=int, default=0,
                    help="the receiver answers the final dot this many ms late")
    args = ap.parse_args()
    spatetest.BUILD = os.path.abspath(args.build)
    for p in ("spated", "perf/spate-sink"):
        if not os.access(os.path.join(spatetest.BUILD, p), os.X_OK):
            sys.exit("kill9: no %s in %s" % (p, spatetest.BUILD))
    rng = random.Random(args.seed)
    acked = set()
    stats = {"kills": 0, "kills_during_injection": 0, "kills_late": 0, "kill_times": [],
             "kill_injecting": [], "inject_ms": []}
    t0 = time.monotonic()
    env = Env("kill9")
    try:
        env.start_dns(env.mx_zone(args.domains))
        sink = env.start_spate_sink(env.sink_addrs(args.domains), extra_args=(
            ["--dot-delay", str(args.dot_delay)] if args.dot_delay else []))
        conf = env.write_config(retry="* * F,1h,1s")
        cycles = 0
        for c in range(args.cycles):
            if time.monotonic() - t0 > args.time_limit:
                break
            run_cycle(env, conf, c, args, rng, acked, stats)
            cycles += 1
            print("cycle %d: killed at %s, %d acknowledged so far, sink %d" % (
                c, time.strftime("%H:%M:%S", time.localtime(stats["kill_times"][-1])) +
                ("%.3f" % (stats["kill_times"][-1] % 1))[1:], len(acked), sink.count()),
                file=sys.stderr, flush=True)
        drain(env, conf, 60)
        result = {"cycles": cycles, "messages_per_cycle": args.messages, "seed": args.seed}
        kills, injecting = stats.pop("kill_times"), stats.pop("kill_injecting")
        took = sorted(stats.pop("inject_ms"))
        result.update(stats)
        if took:
            result["inject_request_ms"] = {"median": round(took[len(took) // 2], 1),
                                           "p90": round(took[int(len(took) * 0.9)], 1)}
        result.update(analyse(env, sink, acked, args.domains, kills, injecting))
        result["seconds"] = round(time.monotonic() - t0, 1)
        result["build"] = spatetest.BUILD
    except BaseException:
        env.close(failed=True)
        raise
    env.close(failed=args.keep)
    print(json.dumps(result, sort_keys=False))


if __name__ == "__main__":
    main()

"""bench_dkim.py - the DKIM and sender-authentication cases of perf/bench.py.

Outbound, end to end (as spate_e2e_smtp: spated delivering to the sinks while spate-inject
sends over SMTP), the smtp transport signing every message of inject.bench-test or not:
  dkim_e2e_none        no signing
  dkim_e2e_rsa         dkim_selector = rsa, an RSA-2048 key
  dkim_e2e_ed25519     dkim_selector = ed, an Ed25519 key
Inbound acceptance (as the inbound cases: queue_only, N / injection time):
  auth_in_none         no ACL, no SPF, no DKIM
  auth_in_spf_dkim     every message is signed (RSA-2048, relaxed/relaxed, over From,
                       MIME-Version, Content-Type and the body, which spate-inject keeps the
                       same in all messages of a run: one signature, made with dkimpy over
                       spate-inject --sample, verifies on every message), and spated
                       evaluates SPF in acl_smtp_rcpt ("warn spf = ..."), verifies DKIM
                       (acl_smtp_dkim denies fail and invalid) and adds
                       $authentication_results in acl_smtp_data. The key and SPF records
                       come from the bench's nsd and are cached by spated's resolver after
                       the first message. The run checks that every spooled message holds
                       "dkim=pass" and "spf=pass".
The cases of one round run in turn and the rounds alternate them (--runs rounds; --dkim-n
messages of --dkim-size octets). The ratios are of the medians and, per round, of paired
runs."""

import base64
import re
import os
import subprocess
import sys

from bench_util import *  # noqa: F401,F403
from bench_engines import Spate, case_engine
from bench_report import summarize, fmt
from bench_inbound import count_in_spool
import bench_inbound

DKIM_OUT_CASES = ["dkim_e2e_none", "dkim_e2e_rsa", "dkim_e2e_ed25519"]
DKIM_IN_CASES = ["auth_in_none", "auth_in_spf_dkim"]
DKIM_CASES = DKIM_OUT_CASES + DKIM_IN_CASES
SIGNER = SENDER.split("@", 1)[1]  # inject.bench-test

AUTH_ACL = ["acl_smtp_rcpt = auth_rcpt", "acl_smtp_dkim = auth_dkim",
            "acl_smtp_data = auth_data", "", "begin acl",
            "auth_rcpt:",
            "  warn    spf = pass : fail : softfail : none : neutral : permerror : temperror",
            "  accept",
            "auth_dkim:",
            "  deny    dkim_status = fail : invalid",
            "          message = DKIM $dkim_verify_status: $dkim_verify_reason",
            "  accept",
            "auth_data:",
            "  warn    add_header = :at_start:$authentication_results",
            "  accept", ""]


def openssl(*args):
    return subprocess.run(["openssl"] + list(args), check=True, capture_output=True).stdout


def dkim_setup(env):
    """Keys under the work directory (env.dkim) and the zone lines of their records and
    of the sender domain's SPF record."""
    d = os.path.join(env.workdir, "dkim")
    os.makedirs(d, exist_ok=True)
    rsa, ed = os.path.join(d, "rsa.pem"), os.path.join(d, "ed.pem")
    openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", rsa)
    openssl("genpkey", "-algorithm", "ed25519", "-out", ed)
    env.dkim = {"dir": d, "rsa": rsa, "ed": ed}
    rsa_rec = "v=DKIM1; k=rsa; p=" + base64.b64encode(
        openssl("pkey", "-in", rsa, "-pubout", "-outform", "DER")).decode()
    ed_rec = "v=DKIM1; k=ed25519; p=" + base64.b64encode(
        openssl("pkey", "-in", ed, "-pubout", "-outform", "DER")[-32:]).decode()
    strings = " ".join('"%s"' % rsa_rec[i:i + 250] for i in range(0, len(rsa_rec), 250))
    return ["rsa._domainkey.%s. IN TXT %s" % (SIGNER, strings),
            'ed._domainkey.%s. IN TXT "%s"' % (SIGNER, ed_rec),
            '%s. IN TXT "v=spf1 ip4:127.0.0.0/8 -all"' % SIGNER]


def signing_engine(env, selector):
    """Spate with the smtp transport signing for inject.bench-test with selector"""
    class SpateDkim(Spate):
        transport_extra = ("  dkim_domain = %s" % SIGNER, "  dkim_selector = %s" % selector,
                           "  dkim_private_key = %s" % env.dkim[selector],
                           "  dkim_canon = relaxed")
    return SpateDkim


def case_out(env, case, n, size, rep):
    sel = {"dkim_e2e_rsa": "rsa", "dkim_e2e_ed25519": "ed"}.get(case)
    cls = signing_engine(env, sel) if sel else Spate
    v = {"label": "_" + case,
         "log_counts": {"dkim_sign_failures": re.compile(r"DKIM signing failed")}}
    r = case_engine(env, cls, n, size, rep, "smtp", False, v)
    if r.get("dkim_sign_failures"):
        env.problem(case, rep, "%d DKIM signing failures logged" % r["dkim_sign_failures"])
    return r


def signed_header(env, n, size, run_id):
    """The DKIM-Signature field (unfolded, one line) for this run's messages, made by
    dkimpy over spate-inject --sample with the arguments run_inject will use."""
    if "/usr/lib/python3/dist-packages" not in sys.path:
        sys.path.append("/usr/lib/python3/dist-packages")
    import dkim  # Debian's python3-dkim
    sample = subprocess.run(
        [env.bin("perf/spate-inject"), "smtp", "127.0.0.1:25", "-n", str(n), "-s", str(size),
         "--from", SENDER, "--to-domains", str(env.args.domains), "--to-pattern", PATTERN,
         "--run-id", run_id, "--sample"], check=True, capture_output=True).stdout
    with open(env.dkim["rsa"], "rb") as f:
        key = f.read()
    sig = dkim.sign(sample, b"rsa", SIGNER.encode(), key, canonicalize=(b"relaxed", b"relaxed"),
                    include_headers=[b"from", b"mime-version", b"content-type"])
    return re.sub(rb"\r?\n[ \t]+", b" ", sig).strip().decode()


def case_in(env, case, n, size, rep):
    """One inbound run (bench_inbound.case_inbound's measurement) with or without SPF and
    DKIM evaluated."""
    auth = case == "auth_in_spf_dkim"
    extra = ["queue_only = true"] + (AUTH_ACL if auth else [])
    run_id = "%s.%d" % (case, rep)
    inject_extra = ["--header", signed_header(env, n, size, run_id)] if auth else []
    res = bench_inbound.measure_inbound(env, case, n, size, rep, extra, inject_extra, run_id)
    spool = res.pop("_spool")
    if auth:
        for word in (b"dkim=pass", b"spf=pass"):
            got = count_in_spool(spool, b"; " + word)
            res[word.decode().replace("=", "_")] = got
            if got != n:
                env.problem(case, rep, "%s in %d of %d spooled messages" % (word.decode(), got, n))
    return res


FIGURES_OUT = ["e2e_msgs_per_s", "inject_msgs_per_s", "cpu_s_per_1000", "latency_p99_ms",
               "peak_rss_mb"]
FIGURES_IN = ["inject_msgs_per_s", "cpu_s_per_1000", "inject_cpu_s", "other_cpu_share"]


def paired(cases, num, den, key):
    """ratio of the medians, and the median [min..max] of the per-round ratios"""
    def med(c):
        s = (cases.get(c) or {}).get("summary", {}).get(key)
        return s["median"] if s else None
    a, b = med(num), med(den)
    out = {key: round(a / b, 3) if a is not None and b else None}
    pr = [x.get(key) / y.get(key) for x, y in zip(cases.get(num, {}).get("runs", []),
                                                   cases.get(den, {}).get("runs", []))
          if x.get(key) and y.get(key)]
    if pr:
        out[key + "_paired"] = summarize([{"v": round(p, 3)} for p in pr], "v")
    return out


def run_dkim(env, cases, out):
    """--runs rounds of the chosen DKIM cases in turn; tables and ratios at the end."""
    a = env.args
    plan = [c for c in DKIM_CASES if c in cases]
    res = {c: {"runs": []} for c in plan}
    for rep in range(a.runs):
        for case in plan:
            log("%s: N=%d size=%d run %d/%d" % (case, a.dkim_n, a.dkim_size, rep + 1, a.runs))
            fn = case_out if case in DKIM_OUT_CASES else case_in
            r = fn(env, case, a.dkim_n, a.dkim_size, rep)
            key = "e2e_msgs_per_s" if case in DKIM_OUT_CASES else "inject_msgs_per_s"
            log("    %s msg/s, spated CPU %s s/1000" % (r.get(key), r.get("cpu_s_per_1000")))
            res[case]["runs"].append(r)
    for c, v in res.items():
        figs = FIGURES_OUT if c in DKIM_OUT_CASES else FIGURES_IN
        v["summary"] = {k: summarize(v["runs"], k) for k in figs
                        if summarize(v["runs"], k) is not None}
    ratios = {}
    for num, den, key in (("dkim_e2e_rsa", "dkim_e2e_none", "e2e_msgs_per_s"),
                          ("dkim_e2e_ed25519", "dkim_e2e_none", "e2e_msgs_per_s"),
                          ("auth_in_spf_dkim", "auth_in_none", "inject_msgs_per_s")):
        if num in res and den in res:
            ratios["%s/%s" % (num, den)] = dict(paired(res, num, den, key),
                                                **paired(res, num, den, "cpu_s_per_1000"))
    out.update({"n": a.dkim_n, "size": a.dkim_size, "runs": a.runs, "cases": res,
                "ratios": ratios, "acl": AUTH_ACL})
    print_dkim(out)


def print_dkim(out):
    print("\n=== DKIM / SPF: N=%d x %d bytes, median [min..max] of %d runs ===" % (
        out["n"], out["size"], out["runs"]))
    print("%-20s %-26s %-24s" % ("", "msg/s (e2e or accepted)", "spated CPU s/1000"))
    for c, v in out["cases"].items():
        s = v["summary"]
        key = "e2e_msgs_per_s" if c in DKIM_OUT_CASES else "inject_msgs_per_s"
        print("%-20s %-26s %-24s" % (c, fmt(s.get(key)), fmt(s.get("cpu_s_per_1000"), 3)))
    for name, r in out["ratios"].items():
        key = [k for k in r if k.endswith("msgs_per_s")][0]
        print("%-36s msg/s %s (per round: %s), CPU %s" % (
            name, r[key], fmt(r.get(key + "_paired"), 3), r.get("cpu_s_per_1000")))
    rsa = out["ratios"].get("dkim_e2e_rsa/dkim_e2e_none", {}).get("e2e_msgs_per_s")
    if rsa is not None:
        print("RSA-2048 signing keeps %s of the unsigned end-to-end rate: it costs %.0f%% "
              "(goal: under 30%%)" % (rsa, 100 * (1 - rsa)))

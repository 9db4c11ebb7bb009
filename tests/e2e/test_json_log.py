"""test_json_log - the JSON delivery log (log_json_path): every record a real
daemon writes for receptions (SMTP and HTTP), deliveries, deferrals,
failures, expiries, failure notices and admin actions is checked against
docs/json-log.schema.json with a JSON Schema validator (python3-jsonschema);
SIGUSR1 reopens the file after a rename; log_json_max_size rotates it."""

import json
import os
import signal
import subprocess

import jsonschema

import spatetest
from spatetest import Env, wait_for

TLD = spatetest.TLD
SRC = os.environ.get("SPATE_SRC", os.path.join(os.path.dirname(__file__), "..", ".."))
TOKEN = "json-log-token"
with open(os.path.join(SRC, "docs", "json-log.schema.json")) as _f:
    SCHEMA = json.load(_f)
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)


def records(path):
    """Every line of path as a JSON object, each one valid per the schema."""
    out = []
    try:
        with open(path) as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        return out
    for line in lines:
        rec = json.loads(line)
        errors = sorted(VALIDATOR.iter_errors(rec), key=str)
        assert not errors, (rec, [e.message for e in errors])
        out.append(rec)
    return out


def of(recs, event, **match):
    return [r for r in recs if r["event"] == event and
            all(r.get(k) == v for k, v in match.items())]


def start(env, extra=""):
    env.start_dns(env.mx_zone(2))
    sink = env.start_spate_sink(env.sink_addrs(2))
    tokens = env.path("tokens")
    with open(tokens, "w") as f:
        f.write("admin %s\n" % TOKEN)
    jpath = env.path("delivery.json")
    conf = env.write_config(
        extra_main="log_json_path = %s\nqueue_run_interval = 1s\nadmin_token_file = %s\n%s"
        % (jpath, tokens, extra), retry="* * F,3s,1s")
    return sink, jpath, env.start_spated(conf)


def test_every_event_matches_the_schema():
    with Env("jsonlog-events") as env:
        sink, jpath, spated = start(env)
        sender = "alice@d2.%s" % TLD
        code, _ = spatetest.smtp_send(
            env.spated_ip, spatetest.SMTP_PORT, sender,
            ["bob@d1.%s" % TLD, "permfail-1@d1.%s" % TLD, "tempfail-1@d2.%s" % TLD],
            b"Subject: json\r\n\r\nbody\r\n")
        assert code == 250
        st, ans = spatetest.http_inject(env.http_url, {
            "envelope_sender": "h@d2.%s" % TLD, "recipients": ["carol@d1.%s" % TLD],
            "content": "Subject: over http\n\nbody\n"})
        assert st == 200, ans
        hid = ans["ids"][0]
        st, ans = spatetest.http_inject(env.http_url, {
            "envelope_sender": "h@d2.%s" % TLD, "recipients": ["tempfail-9@d1.%s" % TLD],
            "content": "Subject: to freeze\n\nbody\n"})
        fid = ans["ids"][0]
        wait_for(lambda: of(records(jpath), "deferral", id=fid), 20, what="deferral of " + fid)
        ctl = os.path.join(spatetest.BUILD, "spatectl")
        tokf = env.path("tokens")
        p = subprocess.run([ctl, "--url", env.http_url, "--token-file", tokf, "freeze", fid],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        assert p.returncode == 0, p.stderr
        wait_for(lambda: of(records(jpath), "expiry"), 30, 0.2, what="expiry of tempfail-1")
        # two notices: permfail-1 at once, tempfail-1 when its retry time ran out
        wait_for(lambda: len(of(records(jpath), "dsn")) == 2, 20, 0.2, what="two notices")
        wait_for(lambda: of(records(jpath), "admin"), 10, what="the admin record")
        recs = records(jpath)

        smtp_rx = of(recs, "reception", sender=sender)
        assert len(smtp_rx) == 1 and smtp_rx[0]["recipients"] == 3
        assert smtp_rx[0]["protocol"].startswith("esmtp")
        mid = smtp_rx[0]["id"]
        http_rx = of(recs, "reception", id=hid)
        assert http_rx and http_rx[0]["protocol"] == "http"

        dl = of(recs, "delivery", id=mid, recipient="bob@d1.%s" % TLD)
        assert len(dl) == 1, recs
        assert dl[0]["response"]["code"] == 250 and dl[0]["attempt"] == 1
        assert dl[0]["port"] == 12526 and dl[0]["destination"]
        assert recs.index(smtp_rx[0]) < recs.index(dl[0])
        assert of(recs, "delivery", id=hid)

        fl = of(recs, "failure", id=mid, recipient="permfail-1@d1.%s" % TLD)
        assert len(fl) == 1
        assert fl[0]["response"]["code"] == 550 and fl[0]["response"]["enhanced"] == "5.1.1"

        df = of(recs, "deferral", id=mid, recipient="tempfail-1@d2.%s" % TLD)
        assert df and all(r["response"]["code"] == 451 for r in df)
        assert [r["attempt"] for r in df] == list(range(1, len(df) + 1))
        ex = of(recs, "expiry", id=mid)
        assert len(ex) == 1 and ex[0]["recipient"] == "tempfail-1@d2.%s" % TLD
        assert "retry timeout exceeded" in ex[0]["response"]["text"]
        assert ex[0]["queue_time_ms"] >= 3000

        ds = of(recs, "dsn", original_id=mid)
        assert len(ds) == 2 and all(d["action"] == "failure" and d["recipient"] == sender
                                    and d["id"] != mid for d in ds)
        assert of(recs, "delivery", id=ds[0]["id"], recipient=sender)

        ad = of(recs, "admin", action="freeze")
        assert len(ad) == 1 and ad[0]["messages"] == 1 and fid in ad[0]["selection"]


def test_sigusr1_reopens_and_size_rotates():
    with Env("jsonlog-rotate") as env:
        sink, jpath, spated = start(env, "log_json_max_size = 4K")
        host, port = spatetest.split_addr(env.smtp_addr)

        def send(n, tag):
            msgs = [("s@d2.%s" % TLD, ["r%s%d@d1.%s" % (tag, i, TLD)], b"Subject: r\r\n\r\nb\r\n")
                    for i in range(n)]
            assert all(c == 250 for c, _ in spatetest.smtp_send_many(host, port, msgs))

        send(2, "a")
        wait_for(lambda: len(of(records(jpath), "delivery")) == 2, 20, what="2 deliveries")
        os.rename(jpath, jpath + ".moved")
        os.kill(spated.pid, signal.SIGUSR1)
        wait_for(lambda: env.log_grep(r"SIGUSR1: log files reopened"), 10, what="reopen")
        wait_for(lambda: os.path.exists(jpath), 5, what="the reopened file")
        send(1, "b")
        wait_for(lambda: of(records(jpath), "delivery"), 20, what="a delivery after SIGUSR1")
        assert len(records(jpath + ".moved")) == 4  # 2 receptions, 2 deliveries
        # size rotation: 40 more messages pass 4K several times
        send(40, "c")
        wait_for(lambda: len(env.log_grep(r" Completed$")) == 43, 30, what="43 Completed")

        def all_recs():
            files = [jpath] + ["%s.%d" % (jpath, k) for k in range(1, 10)]
            return [r for f in files for r in records(f)]
        wait_for(lambda: len(of(all_recs(), "delivery")) == 41, 10, what="41 deliveries")
        assert os.path.exists(jpath + ".1") and os.path.exists(jpath + ".2")
        for k in range(1, 10):
            if os.path.exists("%s.%d" % (jpath, k)):
                assert os.path.getsize("%s.%d" % (jpath, k)) <= 4096
        assert len(of(all_recs(), "reception")) == 41


spatetest.main(globals())

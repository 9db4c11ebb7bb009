"""The queuefile transport (seed "Queuefile transport", SPEC section 6): a
router sends a domain to it and each message lands in the directory as a
spool export (docs/spool-export.md); under a kill -9 loop every file in the
directory is complete; POST /api/v1/admin/requeue brings the files back and
each is delivered once to a spate-sink."""

import json
import os
import re
import urllib.error
import urllib.request
import subprocess
import threading
import time

import spatetest
from spatetest import Env, wait_for

TLD = spatetest.TLD
QF_ROUTERS = ("scan:\n  driver = accept\n  domains = d1.%s\n  transport = scan\n"
              "dnslookup:\n  driver = dnslookup\n  transport = remote_smtp\n" % TLD)


def _transports(qdir):
    return ("remote_smtp:\n  driver = smtp\n  port = %d\n"
            "scan:\n  driver = queuefile\n  directory = %s\n"
            "  headers_add = X-Ignored: yes\n  body_only\n" % (spatetest.SINK_PORT, qdir))


def _message(i):
    return "Subject: qf %d\r\nX-Spate-Test: q%05d\r\n\r\nbody of %d\r\n" % (i, i, i)


def parse_export(data):
    """A spool export as a dict (raises ValueError when it is not one)."""
    head, sep, body = data.partition(b"\n\n")
    if not sep:
        raise ValueError("no blank line")
    lines = head.decode("utf-8").split("\n")
    if lines[0] != "spate-export 1":
        raise ValueError("version line %r" % lines[0])
    out = {"rcpt": []}
    for line in lines[1:]:
        key, _, value = line.partition(": ")
        if key == "rcpt":
            state, notify, orcpt, addr = value.split(" ", 3)
            out["rcpt"].append((state, notify, orcpt, addr))
        else:
            out[key] = value
    if int(out["size"]) != len(body):
        raise ValueError("size %s, body %d" % (out["size"], len(body)))
    if not re.fullmatch(r"[0-9A-Za-z]{11}-[0-9A-Za-z]{4}", out["id"]):
        raise ValueError("id %r" % out["id"])
    out["body"] = body
    return out


def exports(qdir):
    """{name: parsed export} of every file requeue would read."""
    return {n: parse_export(open(os.path.join(qdir, n), "rb").read())
            for n in os.listdir(qdir) if not n.startswith(".")}


TOKEN = "qf-test-token-0123456789"


def token_main(env):
    """The admin_token_file main option (the daemon is not on 127.0.0.1: the
    admin API, requeue included, wants a bearer token)."""
    path = env.path("tokens")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write("admin %s\n" % TOKEN)
    return "admin_token_file = %s" % path


def requeue(env, qdir, body=None):
    req = urllib.request.Request(env.http_url + "/api/v1/admin/requeue",
                                 json.dumps(body or {"directory": qdir}).encode(), method="POST")
    req.add_header("Authorization", "Bearer " + TOKEN)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def _inject(env, first, n):
    obj = {"messages": [{"envelope_sender": "s@x.%s" % TLD,
                         "recipients": ["u%d@d1.%s" % (i, TLD)],
                         "content": _message(i)} for i in range(first, first + n)]}
    return spatetest.http_inject(env.http_url, obj, timeout=10)


def _markers(sink):
    out = {}
    for _, data in sink.messages():
        m = re.search(rb"X-Spate-Test: q(\d{5})", data)
        if m:
            out[int(m.group(1))] = out.get(int(m.group(1)), 0) + 1
    return out


def test_router_to_queuefile_then_requeue():
    with Env("qf-basic") as env:
        env.start_dns(env.mx_zone(2))
        qdir = env.path("scan")
        os.makedirs(qdir)
        sink = env.start_spate_sink(env.sink_addrs(2))
        conf = env.write_config(extra_main=token_main(env), routers=QF_ROUTERS,
                                transports=_transports(qdir))
        spated = env.start_spated(conf)
        obj = {"messages": [{"envelope_sender": "s@x.%s" % TLD,
                             "recipients": ["a@d1.%s" % TLD, "b@d2.%s" % TLD],
                             "content": _message(1)}]}
        status, _ = spatetest.http_inject(env.http_url, obj)
        assert status == 200
        status, _ = _inject(env, 2, 9)
        assert status == 200
        wait_for(lambda: len(env.log_grep(r" => \S+@d1\.\S+ R=scan T=scan")) == 10, 20,
                 what="10 queuefile deliveries")
        files = exports(qdir)
        assert len(files) == 10, sorted(files)
        for name, x in files.items():
            assert x["id"] == name
            assert len(x["rcpt"]) == 1 and x["rcpt"][0][0] == "pending", x["rcpt"]
            assert x["rcpt"][0][3].endswith("@d1.%s" % TLD)
            assert x["sender"] == "s@x.%s" % TLD
            assert b"X-Spate-Test: q" in x["body"] and b"X-Ignored" not in x["body"]
            assert x["origin"] != x["id"]
        # d2 went by SMTP as usual, and is not in the export
        wait_for(lambda: sink.count() == 1, 20, what="the d2 recipient at the sink")
        assert not any(n.startswith(".") for n in os.listdir(qdir))
        spated.stop()

        plain = env.write_config(extra_main=token_main(env), name="plain.conf")
        env.start_spated(plain)
        status, ans = requeue(env, qdir)
        assert status == 200, ans
        assert ans["requeued"] == 10 and ans["failed"] == [], ans
        assert os.listdir(qdir) == []
        wait_for(lambda: sink.count() == 11, 30, what="10 requeued messages delivered")
        got = _markers(sink)
        assert got == {i: (2 if i == 1 else 1) for i in range(1, 11)}, got
        ctl = subprocess.run([os.path.join(spatetest.BUILD, "spatectl"), "--url", env.http_url,
                              "--token-file", env.path("tokens"), "requeue", qdir], capture_output=True, timeout=30)
        assert ctl.returncode == 0 and ctl.stdout.startswith(b"requeued 0,"), ctl
        # a malformed file is left in place and reported
        with open(os.path.join(qdir, "junk"), "wb") as f:
            f.write(b"spate-export 1\nid: nope\n\n")
        status, ans = requeue(env, qdir)
        assert status == 200 and ans["requeued"] == 0, ans
        assert [f["file"] for f in ans["failed"]] == ["junk"], ans
        assert os.path.exists(os.path.join(qdir, "junk"))
        ctl = subprocess.run([os.path.join(spatetest.BUILD, "spatectl"), "--url", env.http_url,
                              "--token-file", env.path("tokens"), "requeue", qdir], capture_output=True, timeout=30)
        assert ctl.returncode == 1 and b"junk: id: not a message id" in ctl.stdout, ctl
        status, ans = requeue(env, env.path("missing"))
        assert status == 404, ans
        status, ans = spatetest.http_inject(env.http_url + "/api/v1/admin/requeue",
                                            {"directory": qdir})  # no token: refused
        assert status == 401, (status, ans)
        status, ans = requeue(env, None, {"dir": 1})
        assert status == 400, ans


def test_kill9_loop_files_complete_and_requeued_once():
    with Env("qf-kill9") as env:
        env.start_dns(env.mx_zone(1))
        qdir = env.path("scan")
        os.makedirs(qdir)
        conf = env.write_config(extra_main=token_main(env), routers=QF_ROUTERS,
                                transports=_transports(qdir))
        sent = 0
        for rnd in range(6):
            spated = env.start_spated(conf)
            stop = threading.Event()

            def injector(base):
                k = 0
                while not stop.is_set() and k < 40:
                    try:
                        _inject(env, base + k * 5, 5)
                    except OSError:
                        return
                    k += 1
            t = threading.Thread(target=injector, args=(rnd * 1000,))
            t.start()
            time.sleep(0.3 + 0.15 * rnd)
            spated.kill9()
            stop.set()
            t.join(30)
            # complete files or none: every file requeue would read parses
            exports(qdir)
        spated = env.start_spated(conf)
        time.sleep(2)  # the recovered mail is written out
        spated.stop()
        files = exports(qdir)
        assert files, "nothing was exported"
        markers = {}
        for x in files.values():
            m = re.search(rb"X-Spate-Test: q(\d{5})", x["body"])
            markers[int(m.group(1))] = markers.get(int(m.group(1)), 0) + 1
        sink = env.start_spate_sink(env.sink_addrs(1))
        env.start_spated(env.write_config(extra_main=token_main(env), name="plain.conf"))
        status, ans = requeue(env, qdir)
        assert status == 200 and ans["failed"] == [], ans
        assert ans["requeued"] == len(files), (ans, len(files))
        wait_for(lambda: sink.count() >= len(files), 60, what="%d deliveries" % len(files))
        time.sleep(1)
        assert _markers(sink) == markers
        assert [n for n in os.listdir(qdir) if not n.startswith(".")] == []
        print("%d exports over 6 kills, requeued and delivered once each" % len(files))


if __name__ == "__main__":
    spatetest.main(globals())

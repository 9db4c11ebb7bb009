"""test_spatectl_top - `spatectl top` against a running spated delivering to
spate-sink: frames one after another (--count), one JSON object a frame
(--json), rates from two readings, the destinations and the recent errors;
in place on a terminal (a pty) until SIGINT, and until SIGTERM on a pipe,
both ending with status 0; exit 1 when the daemon is not there or refuses,
2 for bad options; no escape byte on stdout outside the terminal mode."""

import json
import os
import pty
import re
import select
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import spatetest  # noqa: E402
from spatetest import Env, wait_for, TLD  # noqa: E402

CTL = os.path.join(spatetest.BUILD, "spatectl")
TOKEN = "top-t0ken"
HEAD = "spatectl top  "


def start(name):
    """A daemon that has delivered 5 messages to d1 and deferred one for d2."""
    env = Env(name)
    env.start_dns(env.mx_zone(2))
    env.start_spate_sink(env.sink_addrs(2))
    tokens = env.path("tokens")
    with open(tokens, "w") as f:
        f.write("read %s\n" % TOKEN)
    env.tokens = tokens
    env.start_spated(env.write_config(extra_main="admin_token_file = %s\n" % tokens,
                                      retry="* * F,1h,1h"))
    host, port = spatetest.split_addr(env.smtp_addr)
    msgs = [("s@d2.%s" % TLD, ["u%d@d1.%s" % (i, TLD)], b"Subject: m\r\n\r\nb\r\n")
            for i in range(5)]
    msgs.append(("s@d1.%s" % TLD, ["tempfail-x@d2.%s" % TLD], b"Subject: t\r\n\r\nb\r\n"))
    assert all(c == 250 for c, _ in spatetest.smtp_send_many(host, port, msgs))
    wait_for(lambda: spatetest.metrics(env.http_url).get(
        "spate_recipients_delivered_total") == 5, 20, what="5 deliveries")
    wait_for(lambda: spatetest.metrics(env.http_url).get(
        "spate_recipients_deferred_total") == 1, 20, what="1 deferral")
    return env


def argv(env_or_url, *args, token=True):
    url = env_or_url if isinstance(env_or_url, str) else env_or_url.http_url
    tok = ["--token-file", env_or_url.tokens] if token and not isinstance(env_or_url, str) else []
    return [CTL, "--url", url] + tok + ["top"] + list(args)


def top(env_or_url, *args, token=True, timeout=30):
    p = subprocess.run(argv(env_or_url, *args, token=token), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=timeout)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode()


def frames(out):
    """The frames of a --count run, split at their header lines."""
    return [HEAD + f for f in out.split(HEAD)[1:]]


def test_top_count_frames():
    with start("top-frames") as env:
        t0 = time.monotonic()
        rc, out, err = top(env, "--count", "2", "--interval", "0.5")
        assert rc == 0, (out, err)
        assert time.monotonic() - t0 >= 0.5
        assert "\x1b" not in out
        fr = frames(out)
        assert len(fr) == 2, out
        assert fr[0].endswith("\n\n") and "two samples are needed" in fr[0], fr[0]
        second = fr[1]
        assert "totals    received 6  delivered 5  deferred 1  failed 0" in second, second
        assert "rates/s   received 0.0  delivered 0.0" in second, second
        assert "mx.d1.%s" % TLD in second and "mx.d2.%s" % TLD in second, second
        # d2's row carries the reply of its deferral; the error list the whole line
        row = [ln for ln in second.splitlines() if "mx.d2.%s" % TLD in ln][0]
        assert row.rstrip().endswith("  451 4.3.0 try again later"), row
        assert "recent errors" in second, second
        assert re.search(r"\n\S+ \S+  defer  \S+ == \*@d2\.%s R=dnslookup " % TLD, second), second


def test_top_json():
    with start("top-json") as env:
        rc, out, err = top(env, "--json", "--count", "2", "--interval", "0.3")
        assert rc == 0, err
        lines = out.splitlines()
        assert len(lines) == 2, out
        a, b = [json.loads(ln) for ln in lines]
        for f in (a, b):
            assert set(f) == {"time", "interval_s", "totals", "rates", "queue", "destinations",
                              "errors"}, f
        assert a["rates"] is None and a["interval_s"] is None
        assert b["interval_s"] >= 0.3 and b["rates"]["delivered"] == 0.0, b
        assert b["totals"]["delivered"] == 5 and b["totals"]["received"] == 6, b
        assert b["queue"]["messages"] == 1, b
        d1 = [d for d in b["destinations"] if d["domain"] == "d1.%s" % TLD]
        assert len(d1) == 1 and d1[0]["delivered"] == 5 and d1[0]["rate"] == 0.0, b
        assert d1[0]["last_error"] is None
        d2 = [d for d in b["destinations"] if d["domain"] == "d2.%s" % TLD][0]
        assert "451" in d2["last_error"] and d2["deferred"] == 1, d2
        assert any(e["kind"] == "defer" for e in b["errors"]), b
        # the global --json works as well
        p = subprocess.run([CTL, "--url", env.http_url, "--token-file", env.tokens, "--json",
                            "top", "--count", "1"], stdout=subprocess.PIPE, timeout=30)
        assert p.returncode == 0 and json.loads(p.stdout)["rates"] is None


def _read_until(fd, needle, count, deadline):
    buf = b""
    while buf.count(needle) < count and time.monotonic() < deadline:
        r, _, _ = select.select([fd], [], [], 0.2)
        if r:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            buf += chunk
    return buf


def test_top_live_terminal_and_pipe():
    with start("top-live") as env:
        # on a terminal: in place, cursor hidden, shown again after SIGINT
        master, slave = pty.openpty()
        p = subprocess.Popen(argv(env, "--interval", "0.2"), stdin=slave, stdout=slave,
                             stderr=subprocess.PIPE)
        os.close(slave)
        buf = _read_until(master, b"\x1b[H\x1b[2J", 2, time.monotonic() + 20)
        p.send_signal(signal.SIGINT)
        assert p.wait(timeout=10) == 0, p.stderr.read()
        buf += _read_until(master, b"\x1b[?25h", 1, time.monotonic() + 2)
        os.close(master)
        assert buf.startswith(b"\x1b[?25l") and buf.count(b"\x1b[H\x1b[2J") >= 2, buf
        assert buf.rstrip().endswith(b"\x1b[?25h") and b"mx.d1." in buf, buf
        # on a pipe with no --count: frames until SIGTERM, then status 0
        p = subprocess.Popen(argv(env, "--interval", "0.2"), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
        out = _read_until(p.stdout.fileno(), HEAD.encode(), 3, time.monotonic() + 20)
        p.send_signal(signal.SIGTERM)
        assert p.wait(timeout=10) == 0, p.stderr.read()
        assert out.count(HEAD.encode()) >= 3 and b"\x1b" not in out, out
        p.stdout.close()
        p.stderr.close()


def test_top_unreachable_and_refused():
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    rc, out, err = top("http://127.0.0.1:%d" % port, "--count", "1")
    assert rc == 1 and out == "" and "cannot connect" in err, (out, err)
    with start("top-refused") as env:
        # 127.N.0.1 is not loopback proper: the admin API wants the token
        rc, out, err = top(env, "--count", "1", token=False)
        assert rc == 1 and "HTTP 401" in err, (out, err)


def test_top_usage():
    for bad in (["--interval", "0"], ["--interval", "x"], ["--interval", "-1"],
                ["--interval", "nan"], ["--interval"], ["--count", "0"], ["--count", "2x"],
                ["--bogus"], ["extra"]):
        rc, out, err = top("http://127.0.0.1:1", *bad)
        assert rc == 2 and "usage: spatectl top" in err, (bad, rc, err)


spatetest.main(globals())

"""spatetest_admin - what the admin API's end-to-end tests share: a call
to the admin API, a run of spatectl, a token file, messages injected in
batches over the HTTP injection API by a few threads, and one daemon
shared by the test functions of a file."""

import atexit
import json
import os
import subprocess
import sys
import threading
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import spatetest  # noqa: E402

CTL = os.path.join(spatetest.BUILD, "spatectl")


def api(url, path, body=None, token=None, timeout=40):
    """(status, parsed JSON) of GET path, or POST body when given; with the
    bearer token when one is given."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url + path, data=data, method="POST" if data else "GET")
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read().decode())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read().decode() or "null")


def ctl(url, token_file, *args, timeout=60):
    """(exit status, stdout, stderr) of spatectl --url url [--token-file
    token_file, unless None] args."""
    argv = [CTL, "--url", url] + (["--token-file", token_file] if token_file else []) + list(args)
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def token_file(env, text):
    """env's file "tokens" with text (lines "SCOPE TOKEN"); its path."""
    path = env.path("tokens")
    with open(path, "w") as f:
        f.write(text)
    return path


def inject(env, rcpts, content, sender="s@example.org", dsn=None):
    """One message (its DSN parameters, when given) through env's HTTP
    injection API; its id."""
    msg = {"envelope_sender": sender, "recipients": rcpts, "content": content}
    if dsn:
        msg["dsn"] = dsn
    status, ans = spatetest.http_inject(env.http_url, msg)
    assert status == 200, ans
    return ans["ids"][0]


def inject_batches(url, batches, make, done=None, nthreads=4):
    """Inject each batch of batches (a list, emptied) as the messages
    make(batch) in one request, nthreads requests at a time; done(batch,
    msgs, answer) for each, under a lock. Fails unless every message of
    every batch is taken."""
    lock, errors = threading.Lock(), []

    def worker():
        while True:
            with lock:
                if not batches:
                    return
                b = batches.pop()
            msgs = make(b)
            st, ans = spatetest.http_inject(url, {"messages": msgs}, timeout=120)
            with lock:
                if st != 200 or len(ans.get("ids", [])) != len(msgs) or ans.get("rejected"):
                    errors.append((st, str(ans)[:300]))
                elif done:
                    done(b, msgs, ans)
    threads = [threading.Thread(target=worker) for _ in range(nthreads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[:3]


def shared(make):
    """A function that gives the object make() makes (it has .env and
    .close()), made on first use and again once its env is closed; closed
    at exit."""
    held = []

    def get():
        if not held or held[0].env.closed:
            held[:] = [make()]
        return held[0]

    @atexit.register
    def _close():
        if held and not held[0].env.closed:
            held[0].close()
    return get

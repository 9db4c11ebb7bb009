"""test_dashboard - the built-in dashboard (GET /, api/dashboard.c): its
headers and files over plain HTTP, GET /api/v1/errors (deferrals and
failures, local parts hidden), and the page in headless Chromium driven over
the DevTools protocol: it loads without console errors, shows the delivered
count of a test run, updates without a reload, and requests nothing but its
own origin (every Network.requestWillBeSent of the page is checked; other
host but spated's resolves nowhere, through --host-resolver-rules)."""

import glob
import json
import os
import shutil
import sys
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import spatetest  # noqa: E402
from spatetest import Env, Skip, http_get, http_inject, wait_for  # noqa: E402

D1 = "d1.%s" % spatetest.TLD
D2 = "d2.%s" % spatetest.TLD
BROWSERS = ("chromium", "chromium-browser", "google-chrome")


def start(name):
    """An Env with nsd (d1, d2), a storing sink and spated; returns (env, sink)."""
    env = Env(name)
    try:
        env.start_dns(env.mx_zone(2))
        sink = env.start_spate_sink(env.sink_addrs(2))
        env.start_spated(env.write_config())
    except BaseException:
        env.close(failed=True)
        raise
    return env, sink


def request(url, method="GET"):
    """(status, headers, body bytes); HTTP errors do not raise."""
    req = urllib.request.Request(url, method=method, data=b"" if method == "POST" else None)
    try:
        with urllib.request.urlopen(req, timeout=20) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def inject(env, rcpts, n=1):
    for _ in range(n):
        m = {"envelope_sender": "dash@example.org", "recipients": rcpts,
             "content": "Subject: dashboard\n\nhello\n"}
        status, ans = http_inject(env.http_url, m)
        assert status == 200, (status, ans)


def counter(env, name):
    return int(spatetest.metrics(env.http_url)["spate_%s" % name])


def errors(env):
    status, ans = http_get(env.http_url + "/api/v1/errors")
    assert status == 200, (status, ans)
    return ans


# ---- plain HTTP


def test_dashboard_files_and_headers():
    env, sink = start("dash_http")
    with env:
        for path, ctype, needle in (("/", "text/html", b"/dashboard.js"),
                                    ("/dashboard.js", "text/javascript", b"/api/v1/stats"),
                                    ("/dashboard.css", "text/css", b"font")):
            status, hdrs, body = request(env.http_url + path)
            assert status == 200, (path, status)
            assert hdrs.get("Content-Type", "").startswith(ctype), (path, hdrs)
            csp = hdrs.get("Content-Security-Policy") or ""
            assert "default-src 'self'" in csp, (path, csp)
            assert hdrs.get("X-Content-Type-Options") == "nosniff", hdrs
            assert needle in body, (path, body[:200])
            # nothing in the files names another host
            assert b"http://" not in body and b"https://" not in body and b"//cdn" not in body
        status, hdrs, body = request(env.http_url + "/favicon.ico")
        assert status == 204 and body == b"", (status, body[:80])
        status, hdrs, body = request(env.http_url + "/", "HEAD")
        assert status == 200 and body == b"", (status, body[:80])
        status, hdrs, body = request(env.http_url + "/", "POST")
        assert status == 405 and "GET" in (hdrs.get("Allow") or ""), (status, hdrs)
        for path in ("/index.html", "/dashboard.jsx", "//", "/dashboard"):
            assert request(env.http_url + path)[0] == 404, path


def test_recent_errors_endpoint():
    env, sink = start("dash_errors")
    with env:
        ans = errors(env)
        assert ans["capacity"] > 0 and ans["errors"] == [], ans
        inject(env, ["ok@%s" % D1])
        inject(env, ["tempfail7@%s" % D1])
        inject(env, ["permfail9@%s" % D2])
        got = wait_for(lambda: (lambda e: e if "** *@" in json.dumps(e) else None)(
            errors(env)["errors"]), 30, what="a failure in /api/v1/errors")
        text = json.dumps(got)
        assert "tempfail7@" not in text and "permfail9@" not in text, text
        defer = [x for x in got if x["kind"] == "defer" and "== *@%s " % D1 in x["text"]]
        fail = [x for x in got if x["kind"] == "fail" and "** *@%s " % D2 in x["text"]]
        assert defer and fail, got
        assert "RCPT TO:<*@%s>: 451" % D1 in defer[-1]["text"], defer
        assert len(defer[-1]["time"]) == 23 and defer[-1]["time"][4] == "-", defer
        # a delivery is not an error
        assert not any(" => " in x["text"] for x in got), got


# ---- in a browser


def find_browser():
    for b in BROWSERS:
        p = shutil.which(b)
        if p:
            return p
    raise Skip("no chromium (scripts/setup-deps.sh installs it)")


def websocket_module():
    try:
        import websocket
    except ImportError:
        for d in glob.glob("/usr/lib/python3/dist-packages"):
            sys.path.append(d)
        try:
            import websocket
        except ImportError:
            raise Skip("no python3-websocket (scripts/setup-deps.sh installs it)")
    return websocket


class Cdp:
    """A DevTools protocol session with one page target: call() waits for
    the answer; events are kept in self.events."""

    def __init__(self, ws_url):
        self.ws = websocket_module().create_connection(ws_url, timeout=30,
                                                       suppress_origin=True)
        self.next_id = 0
        self.events = []

    def call(self, method, **params):
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == self.next_id:
                assert "error" not in msg, (method, msg)
                return msg.get("result", {})
            if "method" in msg:
                self.events.append(msg)

    def eval(self, expr):
        r = self.call("Runtime.evaluate", expression=expr, returnByValue=True)
        return r["result"].get("value")

    def close(self):
        self.ws.close()


def start_browser(env):
    """Headless Chromium on a DevTools port; returns a Cdp on its blank page."""
    exe = find_browser()
    profile = env.path("chromium-profile")
    os.makedirs(profile)
    argv = [exe, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
            "--user-data-dir=" + profile, "--remote-debugging-port=0",
            "--remote-allow-origins=*", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--disable-default-apps",
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE " + env.spated_ip, "about:blank"]
    env._start("chromium", argv, spatetest.Proc)
    port_file = os.path.join(profile, "DevToolsActivePort")
    wait_for(lambda: os.path.exists(port_file) and open(port_file).read().strip(), 30,
             what="chromium's DevTools port")
    port = int(open(port_file).read().split()[0])
    with urllib.request.urlopen("http://127.0.0.1:%d/json/list" % port, timeout=10) as r:
        pages = [t for t in json.load(r) if t["type"] == "page"]
    assert pages, "no page target"
    return Cdp(pages[0]["webSocketDebuggerUrl"])


def shown(cdp, elem_id):
    return cdp.eval("(document.getElementById(%r) || {}).textContent" % elem_id)


def page_wait(cdp, pred, what):
    """wait_for(pred) on the page; on a time-out say what the page shows"""
    try:
        wait_for(pred, 30, interval=0.2, what=what)
    except AssertionError as e:
        notes = [json.dumps(x["params"])[:300] for x in cdp.events
                 if x["method"] in ("Log.entryAdded", "Runtime.exceptionThrown",
                                    "Runtime.consoleAPICalled", "Network.loadingFailed")]
        raise AssertionError("%s; status %r; %s" % (e, shown(cdp, "status"), notes[-8:]))


def test_dashboard_in_chromium():
    find_browser()
    websocket_module()
    env, sink = start("dash_browser")
    with env:
        inject(env, ["a%d@%s" % (i, D1) for i in range(3)], n=4)
        inject(env, ["tempfail1@%s" % D2])
        wait_for(lambda: counter(env, "recipients_delivered_total") >= 12, 30,
                 what="12 deliveries")
        delivered = counter(env, "recipients_delivered_total")
        cdp = start_browser(env)
        try:
            for domain in ("Network", "Page", "Runtime", "Log"):
                cdp.call(domain + ".enable")
            cdp.call("Page.navigate", url=env.http_url + "/?interval=300")
            page_wait(cdp, lambda: shown(cdp, "total-delivered") == str(delivered),
                      "the page shows %d delivered" % delivered)
            assert int(shown(cdp, "total-received")) >= 5
            queue = cdp.eval("document.getElementById('queue').tBodies[0].textContent")
            assert D1 in queue, queue
            page_wait(cdp, lambda: "*@%s" % D2 in (shown(cdp, "errors") or ""),
                      "the deferral in the recent errors")
            assert D2 in cdp.eval("document.getElementById('deferred').textContent")
            # live: more mail, the same document (a marker survives), new figures
            cdp.eval("window.__spate_marker = 42")
            polls = int(cdp.eval("document.getElementById('status').dataset.polls"))
            inject(env, ["b%d@%s" % (i, D1) for i in range(5)])
            wait_for(lambda: counter(env, "recipients_delivered_total") >= delivered + 5, 30,
                     what="5 more deliveries")
            more = counter(env, "recipients_delivered_total")
            page_wait(cdp, lambda: shown(cdp, "total-delivered") == str(more),
                      "the page updates to %d delivered" % more)
            assert cdp.eval("window.__spate_marker") == 42, "the page was reloaded"
            assert int(cdp.eval("document.getElementById('status').dataset.polls")) > polls
            assert cdp.eval("performance.getEntriesByType('navigation').length") == 1
            check_requests(cdp, env.http_url)
        finally:
            cdp.close()


def check_requests(cdp, origin):
    """Every request of the page went to origin; no console error (a CSP
    violation, a failed load) was reported."""
    urls = [e["params"]["request"]["url"] for e in cdp.events
            if e["method"] == "Network.requestWillBeSent"]
    assert urls, "no request seen"
    outside = [u for u in urls if not u.startswith(origin + "/")]
    assert not outside, outside
    paths = {u[len(origin):].split("?")[0] for u in urls}
    assert {"/", "/favicon.ico", "/dashboard.js", "/dashboard.css", "/api/v1/stats", "/api/v1/queue",
            "/api/v1/errors"} <= paths, paths
    failed = [e["params"] for e in cdp.events if e["method"] == "Network.loadingFailed"]
    assert not failed, failed
    errs = [e["params"]["entry"] for e in cdp.events
            if e["method"] == "Log.entryAdded" and e["params"]["entry"]["level"] == "error"]
    assert not errs, errs
    exc = [e for e in cdp.events if e["method"] == "Runtime.exceptionThrown"]
    assert not exc, exc


spatetest.main(globals())

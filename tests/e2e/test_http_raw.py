"""test_http_raw - the raw form of POST /api/v1/inject: Content-Type:
message/rfc822, the message itself as the body and the envelope in the query
string. Each message reaches a spate-sink byte for byte as the same message
injected as JSON does (corpus messages, an 8-bit body, bare LF and CR line
ends, 1 MB); 8-bit text that is not UTF-8, which JSON cannot carry, arrives
as sent; a malformed query is a 400 naming the field and spools nothing; the
size limit, a refused recipient, request framing, keep-alive and spate-inject
--raw."""

import json
import os
import re
import socket
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import spatetest  # noqa: E402
from spatetest import Env, canonical, http_inject, wait_for  # noqa: E402

D1 = "d1.%s" % spatetest.TLD
D2 = "d2.%s" % spatetest.TLD
RFC822 = "message/rfc822"


def start(name, *overrides, domains=2):
    """An Env with nsd (d1..dN), a storing sink and spated; returns (env, sink, spated)."""
    env = Env(name)
    try:
        env.start_dns(env.mx_zone(domains))
        sink = env.start_spate_sink(env.sink_addrs(domains))
        args = []
        for o in overrides:
            args += ["-o", o]
        spated = env.start_spated(env.write_config(), extra_args=args)
    except BaseException:
        env.close(failed=True)
        raise
    return env, sink, spated


def query(sender, rcpts):
    return urllib.parse.urlencode([("envelope_sender", sender)] +
                                  [("recipient", r) for r in rcpts])


def post_raw(env, q, body, ctype=RFC822, timeout=30):
    """POST body to /api/v1/inject?q; returns (status, parsed JSON answer)."""
    url = env.http_url + "/api/v1/inject" + ("?" + q if q is not None else "")
    req = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": ctype})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def raw_ok(env, sender, rcpts, body):
    status, ans = post_raw(env, query(sender, rcpts), body)
    assert status == 200, (status, ans)
    assert ans["accepted"] == len(rcpts) and ans["rejected"] == [] and len(ans["ids"]) == 1, ans
    return ans["ids"][0]


def json_ok(env, sender, rcpts, text):
    status, ans = http_inject(env.http_url, {"envelope_sender": sender, "recipients": rcpts,
                                             "content": text})
    assert status == 200, (status, ans)
    return ans["ids"][0]


def split_ours(data):
    """(spate's Received: field, the rest) of a delivered message."""
    assert data.startswith(b"Received: from "), data[:80]
    lines = data.split(b"\r\n")
    i = 1
    while i < len(lines) and lines[i][:1] in (b" ", b"\t"):
        i += 1
    head = b"\r\n".join(lines[:i])
    assert b"(spate)" in head, head
    return head, b"\r\n".join(lines[i:])


def by_rcpt(sink, n, timeout=40):
    """{recipient: message bytes} once the sink holds n messages."""
    out = {}
    for e, data in sink.wait_messages(n, timeout=timeout):
        for r in e["rcpt_to"]:
            out[r] = (e, data)
    return out


def completed(env, mid, timeout=20):
    wait_for(lambda: env.log_grep(r" %s Completed$" % re.escape(mid)), timeout,
             what="%s Completed" % mid)


def big_body(size):
    """A message of about size octets: 76-octet lines, LF and CRLF ends mixed."""
    lines = [b"From: big@example.org", b"Subject: a large one", b""]
    n = 0
    while sum(len(x) + 2 for x in lines) < size:
        lines.append(b"%076d" % n)
        n += 1
    return b"\r\n".join(lines[:len(lines) // 2]) + b"\n" + b"\n".join(lines[len(lines) // 2:])


# ---- round trips


def test_raw_matches_json_byte_exact():
    env, sink, spated = start("raw_exact")
    with env:
        corpus = [(n, m) for n, m in spatetest.corpus_messages()][:8]
        cases = [(n, m) for n, m in corpus]
        cases.append(("8bit", "From: a@example.org\nSubject: caf\u00e9\n\n"
                              "na\u00efve \u20ac \U0001F600 \u00fc\u00f6\u00e4\n".encode("utf-8")))
        cases.append(("bare-cr-lf", b"Subject: ends\r\n\r\nlf\ncr\rcrlf\r\nno final newline"))
        cases.append(("dots", b"Subject: dots\n\n.\n..\n.leading dot\n"))
        cases.append(("1mb", big_body(1 << 20)))
        ids = {}
        for i, (name, body) in enumerate(cases):
            ids["raw%d@%s" % (i, D1)] = raw_ok(env, "alice@example.org", ["raw%d@%s" % (i, D1)],
                                               body)
            ids["json%d@%s" % (i, D2)] = json_ok(env, "alice@example.org",
                                                 ["json%d@%s" % (i, D2)], body.decode("utf-8"))
        got = by_rcpt(sink, 2 * len(cases))
        for i, (name, body) in enumerate(cases):
            (er, raw_data), (ej, json_data) = got["raw%d@%s" % (i, D1)], got["json%d@%s" % (i, D2)]
            assert er["mail_from"] == "alice@example.org", er
            raw_head, raw_rest = split_ours(raw_data)
            _, json_rest = split_ours(json_data)
            assert raw_rest == json_rest, "%s: raw and JSON differ" % name
            assert raw_rest == canonical(body), "%s: not byte-exact" % name
            mid = ids["raw%d@%s" % (i, D1)]
            assert b"with HTTP id " + mid.encode() in raw_head, raw_head
            assert b"for <raw%d@%s>" % (i, D1.encode()) in raw_head, raw_head
            arrival = env.log_grep(r" %s <= alice@example\.org .* P=http S=%d for raw%d@" %
                                   (re.escape(mid), len(raw_data), i))
            assert len(arrival) == 1, (name, env.log_grep(re.escape(mid)))
        for mid in ids.values():
            completed(env, mid)
        assert spatetest.metrics(env.http_url)["spate_messages_received_http_total"] == \
            2 * len(cases)


def test_raw_8bit_not_utf8():
    """Octets JSON cannot carry (Latin-1, a NUL) arrive as sent."""
    env, sink, spated = start("raw_8bit", domains=1)
    with env:
        body = b"Subject: latin-1\r\nContent-Type: text/plain; charset=iso-8859-1\r\n\r\n" \
               b"caf\xe9 na\xefve \xff\xfe\x80 nul:\x00:end\r\n"
        mid = raw_ok(env, "", ["x@%s" % D1, "y@%s" % D1], body)
        e, data = sink.wait_messages(1)[0]
        assert e["mail_from"] == "" and sorted(e["rcpt_to"]) == ["x@%s" % D1, "y@%s" % D1], e
        head, rest = split_ours(data)
        assert rest == body
        assert b"for <" not in head, head  # no "for" clause with two recipients
        completed(env, mid)


def test_raw_several_uploads_on_one_connection():
    """Keep-alive: raw and JSON requests one after another on one connection,
    a refused one among them, each answered in turn."""
    env, sink, spated = start("raw_keepalive", domains=1)
    with env:
        import http.client
        host, port = spatetest.split_addr(env.http_url[len("http://"):])
        c = http.client.HTTPConnection(host, port, timeout=20)
        answers = []
        for i, q in enumerate([query("", ["k0@%s" % D1]), "envelope_sender=&recipient=bad",
                               query("", ["k2@%s" % D1])]):
            c.request("POST", "/api/v1/inject?" + q, body=b"Subject: k%d\n\nx\n" % i,
                      headers={"Content-Type": "Message/RFC822; charset=utf-8"})
            r = c.getresponse()
            answers.append((r.status, json.loads(r.read())))
        c.request("POST", "/api/v1/inject", body=json.dumps(
            {"envelope_sender": "", "recipients": ["k3@%s" % D1], "content": "Subject: k3\n\nx\n"}))
        r = c.getresponse()
        answers.append((r.status, json.loads(r.read())))
        c.close()
        assert [s for s, _ in answers] == [200, 400, 200, 200], answers
        assert answers[1][1]["field"] == "recipient[0]", answers
        msgs = sink.wait_messages(3)
        assert sorted(e["rcpt_to"][0] for e, _ in msgs) == ["k%d@%s" % (i, D1) for i in (0, 2, 3)]
        for _, a in answers[::2] + answers[3:]:
            completed(env, a["ids"][0])


# ---- refusals


def test_raw_malformed_queries():
    env, sink, spated = start("raw_bad", domains=1)
    with env:
        body = b"Subject: x\n\nx\n"
        rcpt = urllib.parse.quote("r@%s" % D1, safe="")
        cases = [
            (None, "envelope_sender"),                                 # no query at all
            ("recipient=%s" % rcpt, "envelope_sender"),               # missing sender
            ("envelope_sender=a%40example.org", "recipient"),         # no recipient
            ("envelope_sender=no-at-sign&recipient=%s" % rcpt, "envelope_sender"),
            ("envelope_sender=&recipient=%s&recipient=two+words%%40x" % rcpt, "recipient[1]"),
            ("envelope_sender=&recipient=%s%%4" % rcpt, "recipient[0]"),   # cut escape
            ("envelope_sender=&recipient=r%%zz%%40%s" % D1, "recipient[0]"),
            ("envelope_sender=&recipient=r%%00%%40%s" % D1, "recipient[0]"),  # NUL
            ("envelope_sender=&envelope_sender=&recipient=%s" % rcpt, "envelope_sender"),
            ("envelope_sender=&recipient=%s&bcc=x" % rcpt, "bcc"),
            ("envelope_sender=&recipients=%s" % rcpt, "recipients"),
            ("envelope_sender=%s%%40example.org&recipient=%s" % ("x" * 260, rcpt),
             "envelope_sender"),                                       # over-long
        ]
        for q, field in cases:
            status, ans = post_raw(env, q, body)
            assert status == 400, (q, status, ans)
            assert isinstance(ans.get("error"), str) and ans["error"], ans
            assert ans.get("field") == field, (q, ans)
        # an empty body names the content
        status, ans = post_raw(env, query("", ["r@%s" % D1]), b"")
        assert status == 400 and ans["field"] == "content", (status, ans)
        assert spatetest.metrics(env.http_url)["spate_messages_received_total"] == 0
        assert sink.count() == 0
        spated.check_alive()


def test_raw_refused_recipients():
    """A recipient addr_rcpt_check refuses is listed in "rejected", as in JSON."""
    env, sink, spated = start("raw_rejected", domains=1)
    with env:
        status, ans = post_raw(env, query("", ["a@[192.0.2.1]", "ok@%s" % D1]),
                               b"Subject: x\n\nx\n")
        assert status == 200 and ans["accepted"] == 1 and len(ans["ids"]) == 1, ans
        assert ans["rejected"] == [{"recipient": "a@[192.0.2.1]",
                                    "reason": "domain literals are not accepted"}], ans
        status, ans = post_raw(env, query("", ["a@[192.0.2.1]"]), b"Subject: x\n\nx\n")
        assert status == 200 and ans["ids"] == [] and ans["accepted"] == 0, ans
        assert len(ans["rejected"]) == 1, ans
        e, _ = sink.wait_messages(1)[0]
        assert e["rcpt_to"] == ["ok@%s" % D1], e


def status_of(env, head, body=b"", timeout=10):
    """Send head (and body) on a fresh connection; the status and whether the
    server closed the connection after the answer."""
    host, port = spatetest.split_addr(env.http_url[len("http://"):])
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.sendall(head + body)
        got = b""
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                got += chunk
                if b"\r\n\r\n" in got:
                    hdr, _, rest = got.partition(b"\r\n\r\n")
                    m = re.search(rb"(?i)\r\ncontent-length: *(\d+)", hdr)
                    if m and len(rest) >= int(m.group(1)):
                        s.settimeout(1)
        except socket.timeout:
            pass
    m = re.match(rb"HTTP/1\.[01] (\d{3}) ", got)
    assert m, got[:200]
    return int(m.group(1)), got


def test_raw_size_limit():
    env, sink, spated = start("raw_size", "message_size_limit=10K", domains=1)
    with env:
        q = query("a@example.org", ["s@%s" % D1])
        head = b"Subject: size\r\n\r\n"
        over = head + b"o" * (10241 - len(head))
        status, ans = post_raw(env, q, over)
        assert status == 413 and ans["field"] == "content" and "10240" in ans["error"], ans
        # chunked: refused once the body is in
        chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(over), over)
        status, got = status_of(env, b"POST /api/v1/inject?" + q.encode() + b" HTTP/1.1\r\n"
                                     b"Host: spate\r\nContent-Type: message/rfc822\r\n"
                                     b"Transfer-Encoding: chunked\r\n\r\n", chunked)
        assert status == 413 and b'"content"' in got, got[:300]
        # exactly the limit is accepted, chunked too
        fits = head + b"f" * (10240 - len(head))
        status, got = status_of(env, b"POST /api/v1/inject?" + q.encode() + b" HTTP/1.1\r\n"
                                     b"Host: spate\r\nContent-Type: message/rfc822\r\n"
                                     b"Transfer-Encoding: chunked\r\n\r\n",
                                b"1000\r\n%s\r\n%x\r\n%s\r\n0\r\n\r\n" %
                                (fits[:4096], len(fits) - 4096, fits[4096:]))
        assert status == 200, got[:300]
        e, data = sink.wait_messages(1)[0]
        assert split_ours(data)[1] == canonical(fits)
        # a Content-Length over the limit is refused before the body is sent
        status, got = status_of(env, b"POST /api/v1/inject?" + q.encode() + b" HTTP/1.1\r\n"
                                     b"Host: spate\r\nContent-Type: message/rfc822\r\n"
                                     b"Content-Length: 3000000\r\n\r\n")
        assert status == 413, got[:300]
        spated.check_alive()


def test_raw_framing_refused():
    """Content-Length with Transfer-Encoding: 400, the connection closed, the
    request behind it never runs (as for JSON)."""
    env, sink, spated = start("raw_framing", domains=1)
    with env:
        q = query("", ["f@%s" % D1]).encode()
        body = b"Subject: x\r\n\r\nx\r\n"
        smuggled = (b"POST /api/v1/inject?" + q + b" HTTP/1.1\r\nHost: spate\r\n"
                    b"Content-Type: message/rfc822\r\nContent-Length: %d\r\n\r\n" % len(body) +
                    body)
        first = (b"POST /api/v1/inject?" + q + b" HTTP/1.1\r\nHost: spate\r\n"
                 b"Content-Type: message/rfc822\r\nContent-Length: 5\r\n"
                 b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
        status, got = status_of(env, first + smuggled)
        assert status == 400 and len(re.findall(rb"HTTP/1\.1 \d{3}", got)) == 1, got[:400]
        assert spatetest.metrics(env.http_url)["spate_messages_received_total"] == 0
        spated.check_alive()


# ---- the load generator


def test_spate_inject_raw():
    env, sink, spated = start("raw_tool", domains=2)
    with env:
        tool = os.path.join(spatetest.BUILD, "perf", "spate-inject")
        p = subprocess.run([tool, "http", env.http_url + "/api/v1/inject", "--raw", "-n", "30",
                            "-s", "3000", "-c", "3", "--to-pattern", "u%d@d%d." + spatetest.TLD,
                            "--to-domains", "2"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        assert p.returncode == 0, p.stderr
        out = json.loads(p.stdout)
        assert out["mode"] == "http-raw" and out["acked"] == 30 and out["failed"] == 0, out
        msgs = sink.wait_messages(30)
        ids = set()
        for e, data in msgs:
            _, rest = split_ours(data)
            ids.add(re.search(rb"Message-ID: <([^>]+)>", rest).group(1))
            assert abs(len(rest) - 3000) <= 78, len(rest)
        assert len(ids) == 30


spatetest.main(globals())

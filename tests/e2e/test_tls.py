"""test_tls - outbound TLS end to end: opportunistic STARTTLS, certificate
verification (CA, names, expiry, CRL), hosts_require_tls, DANE against a
DNSSEC-signed zone served by nsd, OCSP staples, client certificates, a real
Postfix receiver, and the TLS/DANE/OCSP metrics.

The first tests check the fixtures alone (certificates, signed zone, the
STARTTLS sink, Postfix); the others run spated against them. Receivers are
spate-sink instances with STARTTLS (perf/sink.c) and Postfix; every case
asserts both the delivery log line and what the receiver got, so a missing
behaviour (no STARTTLS, no verification, DANE ignored) fails it."""

import os
import re
import smtplib
import socket
import ssl
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import spatetest  # noqa: E402
from spatetest import Env, wait_for  # noqa: E402

TLD = spatetest.TLD
SENDER = "tester@sender.%s" % TLD  # NXDOMAIN: notices go nowhere
RETRY = "* * F,1h,1s"
X_RX = r"X=TLS1\.[23]:[A-Z0-9_-]+:\d+"


# --------------------------------------------------------------------------
# helpers


def transport(name="remote_smtp", **opts):
    """An smtp transport on the sinks' port with the given options."""
    lines = ["%s:" % name, "  driver = smtp", "  port = %d" % spatetest.SINK_PORT]
    lines += ["  %s = %s" % (k, v) for k, v in opts.items()]
    return "\n".join(lines) + "\n"


def router(name, transport_name, domains=None):
    lines = ["%s:" % name, "  driver = dnslookup"]
    if domains:
        lines.append("  domains = %s" % " : ".join(domains))
    lines.append("  transport = %s" % transport_name)
    return "\n".join(lines) + "\n"


def send(env, rcpt, subject="tls test"):
    """Submit one message for one recipient to spated over SMTP."""
    code, text = spatetest.smtp_send(
        env.spated_ip, spatetest.SMTP_PORT, SENDER, [rcpt],
        b"Subject: %s\r\nX-Rcpt: %s\r\n\r\nbody for %s\r\n" % (
            subject.encode(), rcpt.encode(), rcpt.encode()))
    assert code == 250, (rcpt, code, text)


def delivered(env, rcpt, timeout=40):
    """The '=>' line for rcpt (waits for it); fails if it was deferred instead
    and never delivered."""
    rx = r" => %s " % re.escape(rcpt)
    lines = wait_for(lambda: env.log_grep(rx), timeout, 0.2,
                     what="delivery of %s; log tail:\n%s" % (rcpt, "\n".join(env.main_log()[-15:])))
    assert len(lines) == 1, lines
    return lines[0]


def deferred(env, rcpt, must_match=None, timeout=40, attempts=2):
    """Wait for `attempts` '==' lines for rcpt (so it was retried and still not
    delivered); return them. None of them may be a delivery."""
    rx = r" == %s R=\S+ T=\S+ " % re.escape(rcpt)
    lines = wait_for(lambda: len(env.log_grep(rx)) >= attempts and env.log_grep(rx), timeout, 0.2,
                     what="%d deferrals of %s; log tail:\n%s" % (
                         attempts, rcpt, "\n".join(env.main_log()[-15:])))
    assert not env.log_grep(r" => %s " % re.escape(rcpt)), env.log_grep(re.escape(rcpt))
    if must_match:
        assert any(re.search(must_match, line, re.I) for line in lines), (must_match, lines)
    return lines


def not_delivered(env, rcpt, timeout=40):
    """rcpt is deferred (twice) or failed, and never delivered."""
    rx = r" (==|\*\*) %s " % re.escape(rcpt)
    lines = wait_for(lambda: (len(env.log_grep(rx)) >= 2 or env.log_grep(r" \*\* %s " %
                                                                           re.escape(rcpt)))
                     and env.log_grep(rx), timeout, 0.2, what="refusal of %s" % rcpt)
    assert not env.log_grep(r" => %s " % re.escape(rcpt)), env.log_grep(re.escape(rcpt))
    return lines


def fields(line):
    """X= and CV= of a delivery line (None when absent)."""
    x = re.search(r" X=(\S+)", line)
    cv = re.search(r" CV=(\S+)", line)
    return (x.group(1) if x else None), (cv.group(1) if cv else None)


def assert_tls(line, cv):
    assert re.search(X_RX, line), "no X= in: " + line
    assert fields(line)[1] == cv, "want CV=%s in: %s" % (cv, line)
    assert re.search(r' C="250 ', line), line


def assert_clear(line):
    assert fields(line) == (None, None), "X=/CV= on a clear-text delivery: " + line


def only_message(sink, rcpt, tls):
    """The sink holds exactly one message, for rcpt, received with TLS or not."""
    msgs = sink.wait_messages(1)
    assert len(msgs) == 1, [e for e, _ in msgs]
    envelope, data = msgs[0]
    assert envelope["rcpt_to"] == [rcpt], envelope
    assert rcpt.encode() in data
    if tls:
        assert envelope["tls"] and envelope["tls"]["version"] in ("TLSv1.3", "TLSv1.2"), envelope
    else:
        assert envelope["tls"] is None, envelope
    return envelope


def nothing_at(sink):
    assert sink.count() == 0, [e for e, _ in sink.messages()]


def counter(env, name):
    return spatetest.metrics(env.http_url).get(name, 0.0)


def smtplib_starttls(addr, cafile=None, sni=None, rcpt="u@x.%s" % TLD, timeout=20):
    """Send one message with smtplib over STARTTLS; returns the TLS version."""
    host, port = spatetest.split_addr(addr)
    ctx = ssl.create_default_context(cafile=cafile) if cafile else ssl._create_unverified_context()
    s = smtplib.SMTP(host, port, local_hostname="client.%s" % TLD, timeout=timeout)
    try:
        s.ehlo()
        assert s.has_extn("starttls"), s.esmtp_features
        s._host = sni or host  # the name smtplib sends (SNI) and checks
        s.starttls(context=ctx)
        version = s.sock.version()
        s.ehlo()
        assert not s.has_extn("starttls"), "STARTTLS offered again inside TLS"
        s.sendmail("a@%s" % TLD, [rcpt], b"Subject: fixture\r\nTo: %s\r\n\r\nover tls\r\n"
                   % rcpt.encode())
        return version
    finally:
        s.quit()


def openssl(*args, stdin=None):
    p = subprocess.run(["openssl"] + list(args), input=stdin, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=20)
    return p.returncode, p.stdout.decode("utf-8", "replace")


# --------------------------------------------------------------------------
# the fixtures on their own


def test_fixture_certificates():
    with Env("tls-fx-certs") as env:
        c = env.make_certs(2, extra_names=["mx.d3.%s" % TLD])
        ok = ["verify", "-CAfile", c["ca"], "-untrusted", c["int"]]
        assert openssl(*ok, c["right"])[0] == 0
        rc, out = openssl(*ok, "-verify_hostname", "mx.d2.%s" % TLD, c["right"])
        assert rc == 0, out
        for name in (spatetest.DANE_TA_HOST, "mx.d3.%s" % TLD):
            assert openssl(*ok, "-verify_hostname", name, c["right"])[0] == 0, name
        rc, out = openssl(*ok, "-verify_hostname", "mx.d2.%s" % TLD, c["wrong"])
        assert rc != 0 and "hostname mismatch" in out, out
        assert openssl(*ok, "-verify_hostname", "mx.d2.%s" % TLD, c["wild"])[0] == 0
        rc, out = openssl(*ok, "-verify_hostname", "a.mx.d2.%s" % TLD, c["wild"])
        assert rc != 0, out  # a wildcard covers one label only
        rc, out = openssl(*ok, c["expired"])
        assert rc != 0 and "expired" in out, out
        rc, out = openssl(*ok, "-crl_check", "-CRLfile", c["crl"], c["right"])
        assert rc != 0 and "revoked" in out, out
        assert openssl(*ok, "-crl_check", "-CRLfile", c["crl_ok"], c["right"])[0] == 0
        assert openssl("verify", "-CAfile", c["ca"], c["self"])[0] != 0  # not from the CA
        ocsp = ["ocsp", "-CAfile", c["ca"], "-issuer", c["int"], "-cert", c["right"],
                "-respin"]
        rc, out = openssl(*ocsp, c["ocsp_good"])
        assert rc == 0 and re.search(r"srv-right.pem: good", out) and "verify OK" in out, out
        rc, out = openssl(*ocsp, c["ocsp_revoked"])
        assert "revoked" in out and "verify OK" in out, out
        rc, out = openssl(*ocsp, c["ocsp_expired"])  # signature fine, times stale
        assert "verify OK" in out and re.search(r"Status (times invalid|expired)", out), out
        rc, out = openssl(*ocsp, c["ocsp_other"])  # about another certificate
        assert not re.search(r"srv-right.pem: good", out), out
        assert len(spatetest.spki_sha256(c["self"])) == 64


def test_fixture_signed_zone():
    with Env("tls-fx-zone") as env:
        c = env.make_certs()
        ta = env.start_signed_dns(c)
        assert "spate-test.\t" in open(ta).read() and " DS " in open(ta).read().replace("\t", " ")
        want = {"ee": "secure", "ta": "secure", "wrong": "secure", "strip": "secure",
                "chain": "secure", "tlsafail": "secure", "nousable": "secure",
                "insecure": "insecure", "insecure_req": "insecure", "bogus": "bogus",
                "expired": "bogus"}
        assert set(env.signed) == set(want)
        for key, status in want.items():
            sd = env.signed[key]
            got, text = env.unbound_host(ta, sd.domain, "MX")
            assert got == status, (key, got, text)
            assert sd.mx.rstrip(".") in text.replace("mail is handled by 10 ", ""), text
            got, text = env.unbound_host(ta, sd.mx, "A")
            assert got == status and sd.ip in text, (key, got, text)
        tcp = "_%d._tcp" % spatetest.SINK_PORT  # TLSA names carry the receivers' port
        got, text = env.unbound_host(ta, "%s.mx.ee.dane.%s" % (tcp, TLD), "TLSA")
        assert got == "secure" and spatetest.spki_sha256(c["self"]).upper() in text.upper(), text
        got, text = env.unbound_host(ta, "%s.host.chain.dane.%s" % (tcp, TLD), "TLSA")
        assert got == "secure", text
        got, text = env.unbound_host(ta, "%s.mx.tlsafail.dane.%s" % (tcp, TLD), "TLSA")
        assert got == "bogus" and "signature" in text.lower(), text
        got, text = env.unbound_host(ta, "expired.%s" % TLD, "MX")
        assert "expired" in text, text
        assert env.unbound_host(ta, "nothere.%s" % TLD, "MX")[0] == "secure"  # proven NXDOMAIN
        rcode, ans = env.drill("mx.ee.dane.%s" % TLD, "A")
        assert rcode == "NOERROR" and ans[0][2] == env.signed["ee"].ip, ans


def test_fixture_tls_sink():
    with Env("tls-fx-sink") as env:
        c = env.make_certs()
        tls = env.start_tls_sink(env.sink_ip(1), c["right_chain"], c["right_key"],
                                 staple=c["ocsp_good"])
        plain = env.start_spate_sink(env.sink_ip(2))
        stripped = env.start_tls_sink(env.sink_ip(3), c["right"], c["right_key"], chain=c["int"],
                                      starttls=False)
        # a verified handshake with the name, then a message inside TLS
        v = smtplib_starttls(tls.addrs[0], cafile=c["ca"], sni="mx.d1.%s" % TLD,
                             rcpt="a@d1.%s" % TLD)
        assert v == "TLSv1.3", v
        envelope = only_message(tls, "a@d1.%s" % TLD, tls=True)
        assert envelope["tls"]["sni"] == "mx.d1.%s" % TLD, envelope
        assert envelope["tls"]["cipher"].startswith("TLS_"), envelope
        assert envelope["tls"]["ocsp_requested"] is False
        assert envelope["helo"] == "client.%s" % TLD  # the EHLO after STARTTLS
        wait_for(lambda: tls.stats().get("tls_sessions") == 1, 5, what="tls_sessions")
        # openssl s_client: STARTTLS handshake, chain verified, OCSP staple good
        rc, out = openssl("s_client", "-starttls", "smtp", "-connect", tls.addrs[0],
                          "-servername", "mx.d1.%s" % TLD, "-CAfile", c["ca"],
                          "-verify_return_error", "-status", stdin=b"QUIT\r\n")
        assert "Verify return code: 0 (ok)" in out and "Cert Status: good" in out, out
        # TLS 1.2 too, and a second STARTTLS inside TLS is refused
        rc, out = openssl("s_client", "-starttls", "smtp", "-connect", tls.addrs[0], "-tls1_2",
                          "-ign_eof", stdin=b"EHLO x\r\nSTARTTLS\r\nQUIT\r\n")
        assert "Protocol  : TLSv1.2" in out and re.search(r"\n5\d\d ", out), out
        # clear text: no STARTTLS offered; the stripped one keeps its certificate but
        # neither offers nor accepts STARTTLS
        for sink in (plain, stripped):
            host, port = spatetest.split_addr(sink.addrs[0])
            s = smtplib.SMTP(host, port, timeout=10)
            s.ehlo()
            assert not s.has_extn("starttls"), s.esmtp_features
            code, _ = s.docmd("STARTTLS")
            assert code >= 500, code
            s.sendmail("a@%s" % TLD, ["b@d2.%s" % TLD], b"Subject: clear\r\n\r\nx\r\n")
            s.quit()
            assert sink.wait_messages(1)[0][0]["tls"] is None
        # commands sent in clear behind STARTTLS are dropped, not run inside TLS (RFC 3207)
        host, port = spatetest.split_addr(tls.addrs[0])
        with socket.create_connection((host, port), timeout=10) as raw:
            f = raw.makefile("rb")
            assert f.readline().startswith(b"220 ")
            raw.sendall(b"EHLO x\r\n")
            while not f.readline().startswith(b"250 "):
                pass
            raw.sendall(b"STARTTLS\r\nNOOP injected\r\n")
            assert f.readline().startswith(b"220 ")
            t = ssl._create_unverified_context().wrap_socket(raw, server_hostname="x")
            t.sendall(b"EHLO y\r\n")
            first = t.recv(4096)
            assert first.startswith(b"250-sink.spate-test Hello y"), first
            t.sendall(b"QUIT\r\n")
        assert stripped.stats()["tls_sessions"] == 0


def test_fixture_postfix_receivers_in_parallel():
    with Env("tls-fx-postfix") as env:
        c = env.make_certs(1, extra_names=["mx.d2.%s" % TLD])
        p1 = env.start_postfix_receiver(env.sink_ip(1), c["right_chain"], c["right_key"],
                                        ["d1.%s" % TLD])
        p2 = env.start_postfix_receiver(env.sink_ip(2), c["right_chain"], c["right_key"],
                                        ["d2.%s" % TLD])
        assert smtplib_starttls(p1.addr, cafile=c["ca"], sni="mx.d1.%s" % TLD,
                                rcpt="u1@d1.%s" % TLD) in ("TLSv1.3", "TLSv1.2")
        rc, out = spatetest.swaks(["--server", p2.addr, "--to", "u2@d2.%s" % TLD, "--from",
                                   "a@%s" % TLD, "--tls", "--tls-verify", "--tls-ca-path",
                                   c["ca"], "--tls-sni", "mx.d2.%s" % TLD])
        if "requires Net::SSLeay" in out:  # swaks without TLS: smtplib instead
            smtplib_starttls(p2.addr, cafile=c["ca"], sni="mx.d2.%s" % TLD,
                             rcpt="u2@d2.%s" % TLD)
        else:
            assert rc == 0, out
        m1, m2 = p1.wait_messages(1), p2.wait_messages(1)
        assert len(m1) == 1 and b"u1@d1" in m1[0] and b"u2@d2" not in m1[0]
        assert len(m2) == 1 and b"u2@d2" in m2[0]
        assert re.search(rb"\(using TLSv1\.[23] with cipher ", m1[0]), m1[0][:600]
        for p in (p1, p2):
            wait_for(lambda: p.log_grep(r"status=sent \(delivered to maildir\)"), 10,
                     what="delivery in " + p.maillog)
            assert p.log_grep(r"TLS connection established from \S+: TLSv1\.[23] with cipher")


# --------------------------------------------------------------------------
# spated


def test_opportunistic_starttls():
    with Env("tls-opportunistic") as env:
        c = env.make_certs()
        env.start_dns(env.mx_zone(2))
        tls = env.start_tls_sink(env.sink_ip(1), c["right_chain"], c["right_key"])
        plain = env.start_spate_sink(env.sink_ip(2))
        env.start_spated(env.write_config(retry=RETRY))
        r1, r2 = "u@d1.%s" % TLD, "u@d2.%s" % TLD
        send(env, r1)
        send(env, r2)
        line = delivered(env, r1)
        assert_tls(line, "no")
        assert re.search(r" H=mx\.d1\.%s \[%s\]:%d " % (TLD, re.escape(env.sink_ip(1)),
                                                        spatetest.SINK_PORT), line), line
        envelope = only_message(tls, r1, tls=True)
        x = fields(line)[0]
        assert x.split(":")[1] == envelope["tls"]["cipher"], (x, envelope)
        assert_clear(delivered(env, r2))
        only_message(plain, r2, tls=False)
        assert counter(env, "spate_tls_sessions_total") >= 1


def test_new_connection_resumes_the_tls_session():
    """max_messages_per_connection = 1: every message opens a new connection
    to the same MX, and every handshake after the first resumes the session
    (TLS 1.3 ticket) kept for the destination: the receiver sees it."""
    with Env("tls-resume") as env:
        c = env.make_certs()
        env.start_dns(env.mx_zone(1))
        tls = env.start_tls_sink(env.sink_ip(1), c["right_chain"], c["right_key"])
        conf = env.write_config(retry=RETRY)
        with open(conf, "a") as f:
            f.write("begin destinations\n*:\n  max_messages_per_connection = 1\n")
        env.start_spated(conf)
        for i in range(4):
            r = "u%d@d1.%s" % (i, TLD)
            send(env, r)
            delivered(env, r)
        spatetest.wait_for(lambda: tls.stats().get("tls_sessions", 0) >= 4, 10,
                           what="4 handshakes")
        st = tls.stats()
        assert st["tls_resumed"] >= 2, st


def test_certificate_verification():
    """tls_verify_hosts with a CA: right name, wildcard, wrong name, expired,
    CN-only, revoked by CRL; tls_try_verify_hosts with a wrong name."""
    with Env("tls-verify") as env:
        pki = {k: env.make_certs(k, extra_names=["mx.d8.%s" % TLD] if k == 7 else ())
               for k in range(1, 8)}
        bundle = env.path("ca-bundle.pem")
        with open(bundle, "w") as f:
            for k in sorted(pki):
                f.write(open(pki[k]["ca"]).read())
        env.start_dns(env.mx_zone(8))
        plan = {  # domain K: (PKI, leaf, delivered?)
            1: (1, "right", True), 2: (2, "wild", True), 3: (3, "wrong", False),
            4: (4, "expired", False), 5: (5, "cnonly", False), 6: (6, "wrong", True),
            7: (7, "right", False), 8: (7, "right", True)}
        sinks = {}
        for k, (p, leaf, _) in plan.items():
            sinks[k] = env.start_tls_sink(env.sink_ip(k), pki[p][leaf + "_chain"],
                                          pki[p][leaf + "_key"])
        verify = dict(tls_verify_hosts="*", tls_verify_certificates=bundle,
                      tls_verify_cert_hostnames="*")
        transports = (transport("verify_smtp", **verify)
                      + transport("try_smtp", tls_try_verify_hosts="*",
                                  tls_verify_certificates=bundle, tls_verify_cert_hostnames="*")
                      + transport("crl_smtp", tls_crl=pki[7]["crl"], **verify)
                      + transport("crlok_smtp", tls_crl=pki[7]["crl_ok"], **verify))
        routers = (router("try", "try_smtp", ["d6.%s" % TLD])
                   + router("crl", "crl_smtp", ["d7.%s" % TLD])
                   + router("crlok", "crlok_smtp", ["d8.%s" % TLD])
                   + router("dnslookup", "verify_smtp"))
        env.start_spated(env.write_config(routers=routers, transports=transports, retry=RETRY))
        rcpt = {k: "u%d@d%d.%s" % (k, k, TLD) for k in plan}
        for k in plan:
            send(env, rcpt[k])
        for k, (_, leaf, ok) in plan.items():
            if ok:
                line = delivered(env, rcpt[k])
                assert_tls(line, "no" if k == 6 else "yes")
                only_message(sinks[k], rcpt[k], tls=True)
        for k, (_, leaf, ok) in plan.items():
            if not ok:
                deferred(env, rcpt[k], must_match=r"certificate|revoked")
                nothing_at(sinks[k])
        assert counter(env, "spate_tls_sessions_total") >= 4


def test_hosts_require_tls_never_sends_in_clear():
    with Env("tls-require") as env:
        c = env.make_certs()
        env.start_dns(env.mx_zone(3))
        stripped = env.start_tls_sink(env.sink_ip(1), c["right_chain"], c["right_key"],
                                      starttls=False)
        plain = env.start_spate_sink(env.sink_ip(2))
        tls = env.start_tls_sink(env.sink_ip(3), c["right_chain"], c["right_key"])
        env.start_spated(env.write_config(transports=transport(hosts_require_tls="*"),
                                          retry=RETRY))
        r = {k: "u@d%d.%s" % (k, TLD) for k in (1, 2, 3)}
        for k in r:
            send(env, r[k])
        assert_tls(delivered(env, r[3]), "no")
        only_message(tls, r[3], tls=True)
        for k, sink in ((1, stripped), (2, plain)):
            deferred(env, r[k])
            nothing_at(sink)
            wait_for(lambda: sink.stats().get("connections_total", 0) >= 1, 5,
                     what="a connection (it did connect, and gave up)")


def _start_dane_sinks(env, c, keys, overrides=None):
    sinks = {}
    for key in keys:
        sd = env.signed[key]
        leaf = sd.receiver
        cert = c["self"] if leaf == "self" else c[leaf + "_chain"]
        sinks[key] = env.start_tls_sink(sd.addr, cert, c[leaf + "_key"],
                                        starttls=key != "strip")
    return sinks


def test_dane():
    with Env("tls-dane") as env:
        c = env.make_certs()
        ta = env.start_signed_dns(c)
        keys = ["ee", "ta", "chain", "nousable", "insecure", "wrong", "strip", "tlsafail",
                "bogus", "expired", "insecure_req"]
        sinks = _start_dane_sinks(env, c, keys)
        transports = (transport("dane_smtp", hosts_try_dane="*")
                      + transport("dane_required", hosts_require_dane="*"))
        routers = (router("require_dane", "dane_required", [env.signed["insecure_req"].domain])
                   + router("dnslookup", "dane_smtp"))
        env.start_spated(env.write_config(extra_main="dns_trust_anchor_file = %s" % ta,
                                          routers=routers, transports=transports, retry=RETRY))
        rcpt = {k: "u-%s@%s" % (k, env.signed[k].domain) for k in keys}
        for k in keys:
            send(env, rcpt[k])
        # secure, usable TLSA that matches: DANE-authenticated
        for k in ("ee", "ta", "chain"):
            line = delivered(env, rcpt[k])
            assert_tls(line, "dane")
            envelope = only_message(sinks[k], rcpt[k], tls=True)
            if k != "chain":
                assert " H=%s " % env.signed[k].mx in line, line
                assert envelope["tls"]["sni"] == env.signed[k].mx, envelope  # RFC 7672 §8.1
        # secure, none usable: TLS without authentication; insecure: ordinary TLS
        for k in ("nousable", "insecure"):
            line = delivered(env, rcpt[k])
            assert_tls(line, "no")
            only_message(sinks[k], rcpt[k], tls=True)
        # mismatch, stripped STARTTLS, bogus TLSA, bogus and expired zones: never delivered
        for k in ("wrong", "strip", "tlsafail", "bogus", "expired"):
            deferred(env, rcpt[k])
            nothing_at(sinks[k])
        for k in ("wrong", "strip"):  # the lookups worked: it connected, then refused
            assert sinks[k].stats()["connections_total"] >= 1, k
        # hosts_require_dane and an insecure domain
        not_delivered(env, rcpt["insecure_req"])
        nothing_at(sinks["insecure_req"])
        m = spatetest.metrics(env.http_url)
        assert m.get("spate_dane_verified_total", 0) >= 3, m
        assert m.get("spate_dane_failed_total", 0) >= 1, m
        assert m.get("spate_tls_sessions_total", 0) >= 5, m


def test_ocsp_required():
    with Env("tls-ocsp") as env:
        c = env.make_certs(1, extra_names=["mx.d%d.%s" % (k, TLD) for k in range(2, 7)])
        env.start_dns(env.mx_zone(6))
        staples = {1: c["ocsp_good"], 2: c["ocsp_revoked"], 3: c["ocsp_expired"], 4: None,
                   5: c["ocsp_other"], 6: c["ocsp_noend"]}
        sinks = {k: env.start_tls_sink(env.sink_ip(k), c["right_chain"], c["right_key"],
                                       staple=s) for k, s in staples.items()}
        env.start_spated(env.write_config(
            transports=transport(tls_verify_hosts="*", tls_verify_certificates=c["ca"],
                                 hosts_require_ocsp="*"), retry=RETRY))
        r = {k: "u@d%d.%s" % (k, TLD) for k in staples}
        for k in r:
            send(env, r[k])
        assert_tls(delivered(env, r[1]), "yes")
        assert only_message(sinks[1], r[1], tls=True)["tls"]["ocsp_requested"] is True
        for k in (2, 3, 4, 5, 6):
            deferred(env, r[k], must_match=r"OCSP")
            nothing_at(sinks[k])
        m = spatetest.metrics(env.http_url)
        assert m.get("spate_ocsp_good_total", 0) >= 1, m
        assert m.get("spate_ocsp_bad_total", 0) >= 1, m  # it moved


def test_client_certificate():
    with Env("tls-client-cert") as env:
        c = env.make_certs()
        env.start_dns(env.mx_zone(1))
        sink = env.start_tls_sink(env.sink_ip(1), c["right_chain"], c["right_key"],
                                  ask_client_cert=True)
        env.start_spated(env.write_config(
            transports=transport(tls_certificate=c["client_chain"],
                                 tls_privatekey=c["client_key"]), retry=RETRY))
        send(env, "u@d1.%s" % TLD)
        assert_tls(delivered(env, "u@d1.%s" % TLD), "no")
        envelope = only_message(sink, "u@d1.%s" % TLD, tls=True)
        assert "client.d1.%s" % TLD in (envelope["tls"]["client_cert"] or ""), envelope


def test_postfix_receiver():
    """A real MTA: Postfix with STARTTLS, opportunistic (d1) and verified (d2)."""
    with Env("tls-postfix") as env:
        c = env.make_certs(1, extra_names=["mx.d2.%s" % TLD])
        env.start_dns(env.mx_zone(2))
        p1 = env.start_postfix_receiver(env.sink_ip(1), c["right_chain"], c["right_key"],
                                        ["d1.%s" % TLD])
        p2 = env.start_postfix_receiver(env.sink_ip(2), c["right_chain"], c["right_key"],
                                        ["d2.%s" % TLD])
        transports = (transport() + transport("verify_smtp", tls_verify_hosts="*",
                                              tls_verify_certificates=c["ca"],
                                              tls_verify_cert_hostnames="*"))
        routers = router("verified", "verify_smtp", ["d2.%s" % TLD]) + router("dnslookup",
                                                                             "remote_smtp")
        env.start_spated(env.write_config(routers=routers, transports=transports, retry=RETRY))
        r1, r2 = "pf1@d1.%s" % TLD, "pf2@d2.%s" % TLD
        send(env, r1)
        send(env, r2)
        assert_tls(delivered(env, r1), "no")
        assert_tls(delivered(env, r2), "yes")
        for p, r in ((p1, r1), (p2, r2)):
            msgs = p.wait_messages(1)
            assert len(msgs) == 1 and r.encode() in msgs[0], msgs
            assert re.search(rb"\(using TLSv1\.[23] with cipher ", msgs[0]), msgs[0][:800]
            wait_for(lambda: p.log_grep(r"to=<%s>.*status=sent" % re.escape(r)), 10,
                     what="Postfix delivery of " + r)
            assert p.log_grep(r"TLS connection established from \S+: TLSv1\.[23] with cipher"), \
                p.log()


spatetest.main(globals())

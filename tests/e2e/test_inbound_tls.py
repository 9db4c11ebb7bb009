"""test_inbound_tls - STARTTLS on spated's SMTP server (RFC 3207) end to end,
with real clients: a raw client over Python's ssl, swaks and
`openssl s_client -starttls smtp`. Covers the EHLO offer (tls_certificate,
tls_advertise_hosts, none after TLS), EHLO again after the handshake, the
"<=" line's P=esmtps X= CV=, input pipelined behind STARTTLS (CVE-2011-0411:
dropped with smtp_enforce_sync, discarded without), OCSP stapling from
tls_ocsp_file (good, expired, other certificate, missing, atomic replace),
client certificates (tls_verify_hosts, tls_try_verify_hosts, the tls:cert
event) and new certificates on SIGHUP. Each case checks reply codes and
texts and the main log."""

import os
import re
import shutil
import signal
import ssl
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import spatetest  # noqa: E402
from spatetest import Env, wait_for  # noqa: E402
from spatetest_smtp import Client  # noqa: E402
from spatetest_tls import s_client, pem_fingerprint, smtp_starttls  # noqa: E402

D1 = "d1.%s" % spatetest.TLD
X_RX = r" X=TLS1\.3:[A-Z0-9_]+:\d+ "


def start_tls(name, extra=lambda certs: [], args=()):
    """An Env with nsd, a storing sink for d1, test certificates and spated
    offering STARTTLS with srv-right's chain, plus the main-section lines
    extra(certs). Returns (env, certs, sink, spated)."""
    env = Env(name)
    try:
        certs = env.make_certs(1)
        env.start_dns(env.mx_zone(1))
        sink = env.start_spate_sink(env.sink_addrs(1))
        main = ["tls_certificate = %s" % certs["right_chain"],
                "tls_privatekey = %s" % certs["right_key"]] + list(extra(certs))
        spated = env.start_spated(env.write_config(extra_main="\n".join(main)),
                                  extra_args=list(args))
    except BaseException:
        env.close(failed=True)
        raise
    return env, certs, sink, spated


def context(ca=None, cert=None, key=None):
    """A TLS 1.3 client context: verifies the server against ca when given
    (no name check), presents cert (a chain file) with key when given."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_REQUIRED if ca else ssl.CERT_NONE
    if ca:
        ctx.load_verify_locations(ca)
    if cert:
        ctx.load_cert_chain(cert, key)
    return ctx


def hello(addr, source="127.0.0.1", helo="client.example"):
    """A raw client past the greeting and EHLO; (client, EHLO reply lines)."""
    c = Client(addr, source)
    code, lines = c.reply()
    assert code == 220, lines
    return c, c.expect("EHLO " + helo, 250)


def send_message(c, sender, rcpt=None):
    """MAIL, RCPT, DATA of a small message on a client past EHLO; its 250 line."""
    c.expect("MAIL FROM:<%s>" % sender, 250)
    c.expect("RCPT TO:<%s>" % (rcpt or "u@" + D1), 250)
    c.expect("DATA", 354)
    c.send(b"Subject: inbound tls\r\n\r\nbody\r\n.\r\n")
    code, lines = c.reply()
    assert code == 250, lines
    return lines[0]


def arrival(env, sender):
    """The one '<=' line of sender (waits for it)."""
    rx = r" <= %s " % re.escape(sender)
    lines = wait_for(lambda: env.log_grep(rx), 10, what="<= line of " + sender)
    assert len(lines) == 1, lines
    return lines[0]


def test_starttls_offer_and_ehlo_again():
    env, certs, sink, spated = start_tls(
        "intls_offer", lambda c: ["tls_advertise_hosts = 127.0.0.1"])
    with env:
        c, lines = hello(env.smtp_addr, source="127.0.0.2")  # not in tls_advertise_hosts
        assert "250-STARTTLS" not in lines and "250 STARTTLS" not in lines, lines
        c.expect("STARTTLS", 503, r"^503 5\.5\.1 ")
        c.close()
        c, lines = hello(env.smtp_addr)
        assert "250-STARTTLS" in lines, lines
        c.expect("MAIL FROM:<early@example.org>", 250)  # forgotten by STARTTLS
        smtp_starttls(c, context(ca=certs["ca"]))
        assert c.sock.version() == "TLSv1.3"
        c.expect("MAIL FROM:<noehlo@example.org>", 503)  # RFC 3207 4.2: EHLO first
        c.expect("RCPT TO:<u@%s>" % D1, 503)  # the MAIL before TLS is gone
        lines = c.expect("EHLO client.example", 250)
        assert not [l for l in lines if "STARTTLS" in l], lines
        c.expect("STARTTLS", 503, r"^503 5\.5\.1 ")
        send_message(c, "tls@example.org")
        c.expect("QUIT", 221)
        line = arrival(env, "tls@example.org")
        assert re.search(r" P=esmtps" + X_RX + "CV=no ", line), line
        assert not env.log_grep(r"<= (early|noehlo)@")
        msgs = sink.wait_messages(1)
        assert msgs[0][0]["rcpt_to"] == ["u@" + D1], msgs


def test_swaks_tls_and_verify():
    env, certs, sink, spated = start_tls("intls_swaks")
    with env:
        host, port = spatetest.split_addr(env.smtp_addr)

        def run(sender, *extra):
            return spatetest.swaks(["--server", host, "--port", str(port), "--to", "s@" + D1,
                                    "--from", sender, "--helo", "swaks.example", "--tls"]
                                   + list(extra))
        rc, out = run("swaks@example.org")
        assert rc == 0, out
        assert re.search(r"<~\s+250 ", out) and "TLS started" in out, out
        line = arrival(env, "swaks@example.org")
        assert re.search(r"H=\(swaks\.example\) .* P=esmtps" + X_RX + "CV=no ", line), line
        rc, out = run("verified@example.org", "--tls-verify", "--tls-ca-path", certs["ca"])
        assert rc == 0, out
        arrival(env, "verified@example.org")
        # a CA that did not issue the server's certificate: swaks gives up
        rc, out = run("other@example.org", "--tls-verify", "--tls-ca-path", certs["self"])
        assert rc != 0 and not env.log_grep(r"<= other@example\.org"), out
        assert len(sink.wait_messages(2)) == 2


def test_pipelined_after_starttls():
    env, certs, sink, spated = start_tls("intls_sync")
    with env:
        c, _ = hello(env.smtp_addr)
        c.send(b"STARTTLS\r\nMAIL FROM:<smuggled@example.org>\r\n")
        code, lines = c.reply()
        assert code == 554 and lines[0].startswith("554 5.5.0 SMTP synchronization error"), lines
        assert c.at_eof()
        assert env.log_grep(r"SMTP synchronization error \(input sent without waiting")
        spated.stop()
        env.start_spated(env.write_config(
            extra_main="tls_certificate = %s\ntls_privatekey = %s\nsmtp_enforce_sync = false"
            % (certs["right_chain"], certs["right_key"]), name="nosync.conf"))
        c, _ = hello(env.smtp_addr)
        smtp_starttls(c, context(ca=certs["ca"]),
                      command=b"STARTTLS\r\nMAIL FROM:<smuggled@example.org>\r\n")
        # the MAIL sent in clear is never run: the first reply is NOOP's own
        c.expect("NOOP", 250, r"^250 ")
        c.expect("EHLO again.example", 250)
        c.expect("RCPT TO:<u@%s>" % D1, 503)
        send_message(c, "after@example.org")
        c.expect("QUIT", 221)
        assert re.search(r" P=esmtps ", arrival(env, "after@example.org"))
        assert not env.log_grep(r"smuggled@example\.org")


def staple(addr):
    """s_client -status: ('good', text) for a stapled good response, ('none',
    text) for 'no response sent'."""
    rc, out = s_client(addr, ["-status"])
    assert rc == 0 and "Verification" in out, out
    if "OCSP response: no response sent" in out:
        return "none", out
    assert "OCSP Response Status: successful" in out, out
    assert re.search(r"Cert Status: good", out), out
    return "good", out


def replace_file(src, dst):
    """Write dst anew from src under a temporary name, then rename it over dst."""
    shutil.copyfile(src, dst + ".new")
    os.rename(dst + ".new", dst)


def test_ocsp_stapling():
    env, certs, sink, spated = start_tls(
        "intls_ocsp", lambda c: ["tls_ocsp_file = %s" % os.path.join(c["dir"], "staple.der")])
    with env:
        path = os.path.join(certs["dir"], "staple.der")
        assert staple(env.smtp_addr)[0] == "none"  # no file yet
        warn = r"tls_ocsp_file %s: nothing stapled for CN=mx\.%s: " % (re.escape(path),
                                                                       re.escape(D1))
        assert len(env.log_grep(warn + "cannot read the file")) == 1
        replace_file(certs["ocsp_good"], path)  # picked up without a reload
        state, out = staple(env.smtp_addr)
        assert state == "good", out
        for key, why in (("ocsp_expired", r"expired \(nextUpdate has passed\)"),
                         ("ocsp_other", r"the response is for another certificate"),
                         ("ocsp_revoked", r"the certificate is revoked")):
            replace_file(certs[key], path)
            for _ in range(2):
                assert staple(env.smtp_addr)[0] == "none", key
            assert len(env.log_grep(warn + why)) == 1, (key, env.log_grep(warn))
        os.unlink(path)
        assert staple(env.smtp_addr)[0] == "none"
        assert len(env.log_grep(warn + "cannot read the file")) == 2
        replace_file(certs["ocsp_good"], path)
        assert staple(env.smtp_addr)[0] == "good"
        # a client that does not ask gets no staple, and the session goes on
        c, _ = hello(env.smtp_addr)
        smtp_starttls(c, context(ca=certs["ca"]))
        c.expect("EHLO again.example", 250)
        c.expect("QUIT", 221)


# the tls:cert action: refuse the intermediate for 127.0.0.3, the client's
# own certificate for 127.0.0.4, with the depth and subject in the reason
CERT_ACTION = ("event_action = ${if eq{$event_name}{tls:cert}{"
               "${if or{{and{{eq{$sender_host_address}{127.0.0.3}}"
               "{match{${certextract{subject}{$tls_in_peercert}}}{Intermediate}}}}"
               "{and{{eq{$sender_host_address}{127.0.0.4}}{eq{$event_data}{0}}}}}"
               "{refused $event_data ${certextract{subject}{$tls_in_peercert}}}{}}}{}}")


def tls_session(env, certs, source, cert=True):
    """EHLO, STARTTLS from source with (or without) the client chain, EHLO
    again; the client, or the exception the handshake or first read raised."""
    c, _ = hello(env.smtp_addr, source=source)
    ctx = context(ca=certs["ca"], cert=certs["client_chain"] if cert else None,
                  key=certs["client_key"])
    try:
        smtp_starttls(c, ctx)
        c.expect("EHLO client.example", 250)  # TLS 1.3: the server judges now
    except (ssl.SSLError, OSError, AssertionError) as e:
        c.close()
        return e
    return c


def test_client_certificates_and_tls_cert_event():
    env, certs, sink, spated = start_tls("intls_client", lambda c: [
        "tls_verify_hosts = 127.0.0.1 : 127.0.0.3 : 127.0.0.4",
        "tls_try_verify_hosts = 127.0.0.2",
        "tls_verify_certificates = %s" % c["ca"], CERT_ACTION])
    with env:
        err = tls_session(env, certs, "127.0.0.1", cert=False)
        assert isinstance(err, Exception), "handshake without a certificate went through"
        # the alert may reach the client before the line is written
        wait_for(lambda: env.log_grep(r"TLS error on connection from \[127\.0\.0\.1\]:\d+"), 5,
                 what="the TLS error line")
        c = tls_session(env, certs, "127.0.0.1")
        assert not isinstance(c, Exception), c
        send_message(c, "verified@example.org")
        c.close()
        assert re.search(X_RX + "CV=yes ", arrival(env, "verified@example.org"))
        c = tls_session(env, certs, "127.0.0.2", cert=False)  # try: asked, not required
        assert not isinstance(c, Exception), c
        send_message(c, "tried@example.org")
        c.close()
        assert re.search(X_RX + "CV=no ", arrival(env, "tried@example.org"))
        for source, depth, subject in (("127.0.0.3", 1, "CN=Spate Test Intermediate"),
                                       ("127.0.0.4", 0, "CN=client\\.%s" % re.escape(D1))):
            err = tls_session(env, certs, source)
            assert isinstance(err, Exception), source
            rx = (r"TLS client certificate at depth %d from \[%s\]:\d+ refused by tls:cert: "
                  r"refused %d %s$" % (depth, re.escape(source), depth, subject))
            wait_for(lambda: env.log_grep(rx), 5, what="/%s/ in %s" % (rx, env.main_log()[-5:]))
        assert len(sink.wait_messages(2)) == 2


def test_sighup_new_certificate():
    env, certs, sink, spated = start_tls("intls_hup")
    with env:
        rc, out = s_client(env.smtp_addr)
        before = pem_fingerprint(out)
        with open(certs["right"]) as f:
            assert before == pem_fingerprint(f.read())
        # the configured files get the "wild" certificate and key
        replace_file(certs["wild_chain"], certs["right_chain"])
        replace_file(certs["wild_key"], certs["right_key"])
        with open(certs["wild"]) as f:
            want = pem_fingerprint(f.read())
        c, _ = hello(env.smtp_addr)  # a session open across the reload
        os.kill(spated.pid, signal.SIGHUP)
        wait_for(lambda: pem_fingerprint(s_client(env.smtp_addr)[1]) == want, 10, 0.2,
                 what="the new certificate after SIGHUP")
        smtp_starttls(c, context(ca=certs["ca"]))
        c.expect("EHLO old.example", 250)
        c.expect("QUIT", 221)
        # a key that does not fit the certificate: the last good pair stays
        replace_file(certs["wrong_key"], certs["right_key"])
        os.kill(spated.pid, signal.SIGHUP)
        wait_for(lambda: env.log_grep(r"STARTTLS keeps the old certificates"), 10,
                 what="the reload warning; log tail:\n" + "\n".join(env.main_log()[-5:]))
        assert pem_fingerprint(s_client(env.smtp_addr)[1]) == want
        spated.check_alive()


def test_large_pipelined_input_over_tls():
    """Two 1.5 MB messages and QUIT in one write over TLS: more than the
    input buffer, so decrypted input waits inside OpenSSL between reads."""
    env, certs, sink, spated = start_tls("intls_big")
    with env:
        c, _ = hello(env.smtp_addr)
        smtp_starttls(c, context(ca=certs["ca"]))
        c.expect("EHLO big.example", 250)
        bodies = [b"Subject: big %d\r\n\r\n" % i +
                  b"".join(b"%07d %s\r\n" % (n, b"x" * 70) for n in range(20000))
                  for i in range(2)]
        data = b"".join(b"MAIL FROM:<big%d@example.org>\r\nRCPT TO:<big%d@%s>\r\nDATA\r\n"
                        % (i, i, D1.encode()) + bodies[i] + b".\r\n" for i in range(2))
        c.send(data + b"QUIT\r\n")
        codes = [c.reply()[0] for _ in range(7)]
        assert codes == [250, 250, 354, 250, 250, 250, 354], codes
        assert c.reply()[0] == 250 and c.reply()[0] == 221
        got = sorted(spatetest.strip_trace_headers(m[1]) for m in sink.wait_messages(2))
        assert got == sorted(bodies), [len(g) for g in got]
        for i in range(2):
            assert re.search(r" P=esmtps" + X_RX, arrival(env, "big%d@example.org" % i))


def read_to_close(c, timeout=10):
    """What the server sends until it closes (a reset counts as a close)."""
    c.sock.settimeout(timeout)
    try:
        return c.f.read()
    except ConnectionResetError:
        return b""


def test_failed_and_stalled_handshakes():
    env, certs, sink, spated = start_tls("intls_fail", lambda c: ["smtp_receive_timeout = 1s"])
    with env:
        c, _ = hello(env.smtp_addr)
        c.expect("STARTTLS", 220)
        c.send(b"EHLO plain.example\r\n")  # not a ClientHello: no clear-text answer
        assert not re.match(rb"\d{3}", read_to_close(c)), "an SMTP reply in clear text"
        wait_for(lambda: env.log_grep(r"TLS error on connection from \[127\.0\.0\.1\]:\d+ "
                                      r"\(handshake\)"), 5, what="the TLS error line")
        c, _ = hello(env.smtp_addr)  # silent after the 220: the receive timeout ends it
        c.expect("STARTTLS", 220)
        assert read_to_close(c) == b""
        assert env.log_grep(r"SMTP command timeout H=\(client\.example\) \[127\.0\.0\.1\]")
        c, _ = hello(env.smtp_addr)  # the listener still serves
        smtp_starttls(c, context(ca=certs["ca"]))
        c.expect("EHLO ok.example", 250)
        c.expect("QUIT", 221)


if __name__ == "__main__":
    spatetest.main(globals())

"""test_inbound_auth - SMTP AUTH (RFC 4954) on spated's SMTP server end to
end: PLAIN and LOGIN checked by server_condition = crypteq against hashes
(SHA-512 crypt, bcrypt) in an LMDB file made with mdb_load, driven by swaks
and a raw client. Covers 235 with A= and P=esmtpsa on the "<=" line, 535
5.7.8 with its log line and no password in any log, no AUTH before STARTTLS
unless auth_advertise_hosts says so, identity forgotten across STARTTLS
(RFC 3207 4.2), server_advertise_condition on $tls_in_cipher, three
failures dropped with 421, and relaying allowed to an authenticated client
only."""

import base64
import os
import re
import ssl
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import spatetest  # noqa: E402
from spatetest import Env, wait_for  # noqa: E402
from spatetest_smtp import Client  # noqa: E402
from spatetest_tls import crypt_bcrypt, crypt_sha512, lmdb_file, smtp_starttls  # noqa: E402

D1 = "d1.%s" % spatetest.TLD
USERS = {"alice": "Alice-s3cret-pw", "bob": "B0b's:pass word"}
WRONG = "Wr0ng-Passw0rd-XYZ"

AUTHENTICATORS = """
begin authenticators
plain:
  driver = plaintext
  public_name = PLAIN
  server_prompts = :
  server_condition = ${if crypteq{$auth3}{${lookup{$auth2}lmdb{DB}}}}

login:
  driver = plaintext
  public_name = LOGIN
  server_condition = ${if crypteq{$auth2}{${lookup{$auth1}lmdb{DB}}}}
  server_advertise_condition = ${if def:tls_in_cipher}
"""


def start_auth(name, *overrides):
    """An Env with nsd, a storing sink for d1, a password file (alice:
    SHA-512 crypt, bob: bcrypt), and spated with STARTTLS and the PLAIN and
    LOGIN authenticators; relay_from_hosts = 192.0.2.1 (no loopback client
    may relay unauthenticated) and the -o overrides. Returns (env, certs,
    sink, spated)."""
    env = Env(name)
    try:
        certs = env.make_certs(1)
        db = lmdb_file(env.path("passwd.mdb"), [("alice", crypt_sha512(USERS["alice"])),
                                                ("bob", crypt_bcrypt(USERS["bob"]))])
        env.start_dns(env.mx_zone(1))
        sink = env.start_spate_sink(env.sink_addrs(1))
        path = env.write_config(extra_main="tls_certificate = %s\ntls_privatekey = %s" % (
            certs["right_chain"], certs["right_key"]))
        with open(path, "a") as f:
            f.write(AUTHENTICATORS.replace("DB", db))
        args = []
        for o in ("relay_from_hosts=192.0.2.1",) + overrides:
            args += ["-o", o]
        spated = env.start_spated(path, extra_args=args)
    except BaseException:
        env.close(failed=True)
        raise
    return env, certs, sink, spated


def plain(user, password):
    return base64.b64encode(b"\0" + user.encode() + b"\0" + password.encode()).decode()


def b64(text):
    return base64.b64encode(text.encode()).decode()


def swaks_auth(env, mech, user, password, sender, tls=True):
    """swaks with --auth MECH through spated; (exit status, transcript)."""
    host, port = spatetest.split_addr(env.smtp_addr)
    args = ["--server", host, "--port", str(port), "--to", "a@" + D1, "--from", sender,
            "--helo", "swaks.example", "--auth", mech, "--auth-user", user,
            "--auth-password", password]
    return spatetest.swaks(args + (["--tls"] if tls else []))


def hello(addr, source="127.0.0.1"):
    """A raw client past the greeting and EHLO; (client, EHLO reply lines)."""
    c = Client(addr, source)
    code, lines = c.reply()
    assert code == 220, lines
    return c, c.expect("EHLO client.example", 250)


def tls_hello(addr, source="127.0.0.1"):
    """A raw client past EHLO, STARTTLS and EHLO again; (client, EHLO lines)."""
    c, _ = hello(addr, source)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    smtp_starttls(c, ctx)
    return c, c.expect("EHLO client.example", 250)


def arrival(env, sender):
    rx = r" <= %s " % re.escape(sender)
    lines = wait_for(lambda: env.log_grep(rx), 10, what="<= line of " + sender)
    assert len(lines) == 1, lines
    return lines[0]


def no_password_logged(env, spated):
    """No password of USERS, nor WRONG, nor their base64 forms, in the logs."""
    text = "\n".join(env.main_log()) + spated.stderr_text() + spated.stdout_text()
    for pw in list(USERS.values()) + [WRONG]:
        assert pw not in text and b64(pw) not in text, pw
        assert plain("alice", pw) not in text, pw


def test_plain_and_login_over_tls():
    env, certs, sink, spated = start_auth("inauth_ok")
    with env:
        rc, out = swaks_auth(env, "PLAIN", "alice", USERS["alice"], "plain@example.org")
        assert rc == 0 and re.search(r"<~\s+235 2\.7\.0 ", out), out
        line = arrival(env, "plain@example.org")
        assert re.search(r" P=esmtpsa X=TLS1\.3:\S+ CV=no A=plain:alice ", line), line
        rc, out = swaks_auth(env, "LOGIN", "bob", USERS["bob"], "login@example.org")
        assert rc == 0 and re.search(r"<~\s+235 2\.7\.0 ", out), out
        line = arrival(env, "login@example.org")
        assert re.search(r" P=esmtpsa .* A=login:bob ", line), line
        assert len(sink.wait_messages(2)) == 2  # relayed although 127.0.0.1 may not relay
        assert env.log_grep(r"authenticated by plain as alice")
        no_password_logged(env, spated)


def test_wrong_password_and_three_failures():
    env, certs, sink, spated = start_auth("inauth_bad")
    with env:
        rc, out = swaks_auth(env, "PLAIN", "alice", WRONG, "bad@example.org")
        assert rc != 0 and re.search(r"<~\*\s+535 5\.7\.8 ", out), out
        fail = (r"%s authenticator failed for \(swaks\.example\) \[127\.0\.0\.1\]:\d+: 535 "
                r"Incorrect authentication data \(set_id=%s\)$")
        assert len(env.log_grep(fail % ("plain", "alice"))) == 1
        rc, out = swaks_auth(env, "LOGIN", "bob", USERS["alice"], "bad2@example.org")
        assert rc != 0 and re.search(r"<~\*\s+535 5\.7\.8 ", out), out
        assert len(env.log_grep(fail % ("login", "bob"))) == 1
        assert not env.log_grep(r"<= bad2?@example\.org")
        # a raw client: three wrong answers, then the 421 and the close
        c, lines = tls_hello(env.smtp_addr)
        assert "250-AUTH PLAIN LOGIN" in lines, lines
        c.expect("AUTH PLAIN", 334, r"^334 ?$")
        c.expect("*", 501, r"^501 5\.7\.0 ")  # cancelled: not a failed attempt
        c.expect("AUTH PLAIN " + plain("alice", WRONG), 535, r"^535 5\.7\.8 ")
        c.expect("AUTH LOGIN", 334, r"^334 VXNlcm5hbWU6$")  # "Username:"
        c.expect(b64("bob"), 334, r"^334 UGFzc3dvcmQ6$")  # "Password:"
        c.expect(b64(WRONG), 535, r"^535 5\.7\.8 ")
        c.expect("AUTH PLAIN " + plain("nobody", WRONG), 535)
        code, lines = c.reply()
        assert code == 421 and lines[0].startswith("421 4.7.0"), lines
        assert c.at_eof()
        assert env.log_grep(r"dropped: too many failed AUTH attempts")
        assert env.log_grep(r"set_id=nobody\)$")
        no_password_logged(env, spated)


def test_failures_rate_limited_per_client_address():
    env, certs, sink, spated = start_auth("inauth_rate", "auth_failure_ratelimit=2 / 1h")
    with env:
        for user in ("alice", "bob"):  # two sessions, one failure each
            rc, out = swaks_auth(env, "PLAIN", user, WRONG, "r@example.org")
            assert rc != 0 and re.search(r"<~\*\s+535 5\.7\.8 ", out), out
        c, lines = tls_hello(env.smtp_addr)  # a third session: AUTH is refused at once
        c.expect("AUTH PLAIN " + plain("alice", USERS["alice"]), 454, r"^454 4\.7\.0 too many")
        c.close()
        assert env.log_grep(r"AUTH refused: too many failed logins \(auth_failure_ratelimit\)")
        # another address is not affected, and its good password works
        c, lines = tls_hello(env.smtp_addr, source="127.0.0.2")
        c.expect("AUTH PLAIN " + plain("alice", USERS["alice"]), 235)
        c.close()


def test_not_offered_in_clear():
    env, certs, sink, spated = start_auth("inauth_clear")
    with env:
        c, lines = hello(env.smtp_addr)
        assert not [l for l in lines if "AUTH" in l], lines
        c.expect("AUTH PLAIN " + plain("alice", USERS["alice"]), 503, r"^503 5\.5\.1 ")
        c.expect("MAIL FROM:<clear@example.org>", 250)
        c.expect("RCPT TO:<a@%s>" % D1, 550, r"^550 5\.7\.1 ")  # not a relay
        c.close()
        rc, out = swaks_auth(env, "PLAIN", "alice", USERS["alice"], "x@example.org", tls=False)
        assert rc != 0 and "Host did not advertise authentication" in out, out
        assert not env.log_grep(r"authenticated by")
        no_password_logged(env, spated)


def test_auth_advertise_hosts_in_clear():
    env, certs, sink, spated = start_auth("inauth_adv", "auth_advertise_hosts=127.0.0.1")
    with env:
        c, lines = hello(env.smtp_addr, source="127.0.0.2")  # not listed
        assert not [l for l in lines if "AUTH" in l], lines
        c.close()
        c, lines = hello(env.smtp_addr)
        assert "250-AUTH PLAIN" in lines, lines  # LOGIN only under TLS ($tls_in_cipher)
        c.expect("AUTH LOGIN", 504, r"^504 5\.5\.4 ")
        c.expect("AUTH PLAIN " + plain("alice", USERS["alice"]), 235, r"^235 2\.7\.0 ")
        c.expect("AUTH PLAIN " + plain("alice", USERS["alice"]), 503)  # once only
        c.expect("MAIL FROM:<clearauth@example.org>", 250)
        c.expect("RCPT TO:<a@%s>" % D1, 250)
        c.expect("DATA", 354)
        c.send(b"Subject: auth in clear\r\n\r\nbody\r\n.\r\n")
        assert c.reply()[0] == 250
        line = arrival(env, "clearauth@example.org")
        assert re.search(r" P=esmtpa A=plain:alice S=\d+ ", line), line
        # RFC 3207 4.2: what the client said in clear, its login too, is
        # forgotten after STARTTLS
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
        smtp_starttls(c, ctx)
        lines = c.expect("EHLO client.example", 250)
        assert "250-AUTH PLAIN LOGIN" in lines, lines
        c.expect("MAIL FROM:<aftertls@example.org>", 250)
        c.expect("RCPT TO:<a@%s>" % D1, 550, r"^550 5\.7\.1 ")
        c.expect("RSET", 250)
        c.expect("AUTH LOGIN " + b64("bob"), 334, r"^334 UGFzc3dvcmQ6$")
        c.expect(b64(USERS["bob"]), 235)
        c.expect("MAIL FROM:<aftertls@example.org>", 250)
        c.expect("RCPT TO:<a@%s>" % D1, 250)
        c.expect("DATA", 354)
        c.send(b"Subject: auth after tls\r\n\r\nbody\r\n.\r\n")
        assert c.reply()[0] == 250
        c.expect("QUIT", 221)
        line = arrival(env, "aftertls@example.org")
        assert re.search(r" P=esmtpsa .* A=login:bob ", line), line
        assert len(sink.wait_messages(2)) == 2
        no_password_logged(env, spated)


if __name__ == "__main__":
    spatetest.main(globals())

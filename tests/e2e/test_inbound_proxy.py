"""test_inbound_proxy - the PROXY protocol on the SMTP listener
(proxy_required_hosts, log_selector = +proxy): a real haproxy in front of
spated with send-proxy (v1) and send-proxy-v2 with crc32c and unique-id;
a required client that sends no header (3 s, then 503 to all but QUIT);
malformed headers sent raw and with swaks --proxy: the connection closes,
nothing is queued, spated stays up.

Addresses: the proxy connects from 127.N.0.9 (the only host in
proxy_required_hosts), clients from 127.N.0.2x, haproxy listens on
127.N.0.2 (v1) and 127.N.0.3 (v2)."""

import os
import re
import shutil
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import spatetest  # noqa: E402
from spatetest import Env, Skip, is_listening, swaks, wait_for  # noqa: E402
from spatetest_smtp import Client  # noqa: E402

D1 = "d1.%s" % spatetest.TLD
CONNECT_ACL = (
    "c:\n  warn logwrite = PXV session=$proxy_session proxy=$proxy_host_address:"
    "$proxy_host_port target=$proxy_target_address:$proxy_target_port "
    "client=$sender_host_address:$sender_host_port\n  accept\n")

# the v2 header haproxy 2.6.12 sent with proxy-v2-options crc32c,unique-id
CAPTURE_V2 = bytes.fromhex("0d0a0d0a000d0a515549540a" "2111" "0016" "7f000001" "7f000001"
                           "e480" "4282" "03" "0004" "1127f172" "05" "0000")


def start(name, *overrides):
    """nsd (d1), a storing sink, spated with the PROXY options and a connect ACL;
    "{net}" in an override is the Env's network octet."""
    env = Env(name)
    try:
        env.start_dns(env.mx_zone(1))
        sink = env.start_spate_sink(env.sink_addrs(1))
        main = "proxy_required_hosts = %s\nlog_selector = +proxy\nacl_smtp_connect = c" % (
            env.ip(0, 9))
        conf = env.write_config(extra_main=main,
                                retry="* * F,1h,1s\n\nbegin acl\n" + CONNECT_ACL)
        args = []
        for o in overrides:
            args += ["-o", o.format(net=env.net)]
        env.start_spated(conf, extra_args=args)
    except BaseException:
        env.close(failed=True)
        raise
    return env, sink


def haproxy_binary():
    path = shutil.which("haproxy") or "/usr/sbin/haproxy"
    if not os.access(path, os.X_OK):
        raise Skip("haproxy is not installed (scripts/setup-deps.sh)")
    return path


def start_haproxy(env):
    """haproxy in mode tcp: 127.N.0.2 sends v1, 127.N.0.3 v2 with crc32c and unique-id."""
    smtp = env.smtp_addr
    cfg = "\n".join([
        "global", "  maxconn 100",
        "defaults", "  mode tcp", "  timeout connect 5s", "  timeout client 30s",
        "  timeout server 30s",
        "frontend v1", "  bind %s:2525" % env.ip(0, 2), "  default_backend v1",
        "frontend v2", "  bind %s:2525" % env.ip(0, 3), "  unique-id-format %ci-%cp",
        "  default_backend v2",
        "backend v1", "  server spated %s send-proxy source %s" % (smtp, env.ip(0, 9)),
        "backend v2", "  server spated %s send-proxy-v2 proxy-v2-options crc32c,unique-id "
        "source %s" % (smtp, env.ip(0, 9)), ""])
    path = env.path("haproxy.cfg")
    with open(path, "w") as f:
        f.write(cfg)
    binary = haproxy_binary()
    p = env._start("haproxy", [binary, "-db", "-f", path], spatetest.Proc)
    addrs = ["%s:2525" % env.ip(0, 2), "%s:2525" % env.ip(0, 3)]

    def up():
        p.check_alive()
        return all(is_listening(a) for a in addrs)
    wait_for(up, 10, what="haproxy on %s" % " ".join(addrs))
    return addrs


def send_through(addr, source, sender, rcpt_code=250):
    """One message through addr from source; the RCPT reply code decides the rest."""
    c = Client(addr, source=source)
    code, lines = c.reply()
    assert code == 220, lines
    c.expect("EHLO c.example", 250)
    c.expect("MAIL FROM:<%s>" % sender, 250)
    c.expect("RCPT TO:<r@%s>" % D1, rcpt_code)
    if rcpt_code == 250:
        c.expect("DATA", 354)
        c.send(b"Subject: proxied\r\n\r\nbody\r\n.\r\n")
        assert c.reply()[0] == 250
    c.expect("QUIT", 221)
    c.close()


def test_haproxy_v1_and_v2():
    haproxy_binary()
    # relaying is decided on the client's address: the proxy (.9) is not in the list
    env, sink = start("inp_haproxy", "relay_from_hosts=127.{net}.0.20 : 127.{net}.0.21")
    with env:
        n = re.escape("127.%d.0." % env.net)
        v1, v2 = start_haproxy(env)
        send_through(v1, env.ip(0, 20), "v1@example.org")
        send_through(v2, env.ip(0, 21), "v2@example.org")
        send_through(v1, env.ip(0, 22), "norelay@example.org", rcpt_code=550)
        assert len(sink.wait_messages(2)) == 2
        assert env.log_grep(r"<= v1@example\.org H=\(c\.example\) \[%s20\]:\d+ P=esmtp "
                            r"PRX=%s9 S=" % (n, n)), env.main_log()
        assert env.log_grep(r"<= v2@example\.org H=\(c\.example\) \[%s21\]:\d+ P=esmtp "
                            r"PRX=%s9 S=" % (n, n)), env.main_log()
        assert env.log_grep(r"\[%s22\]:\d+ .*relay not permitted" % n)
        # the connect ACL saw the client as $sender_host_*, the proxy as $proxy_host_*
        for client, front in (("20", "2"), ("21", "3")):
            assert env.log_grep(
                r"PXV session=yes proxy=%s9:\d+ target=%s%s:2525 client=%s%s:\d+" % (
                    n, n, front, n, client)), env.main_log()
        assert not env.log_grep(r"PROXY header .* refused")


def test_required_host_without_header_gets_503():
    env, sink = start("inp_noheader")
    with env:
        n = re.escape("127.%d.0." % env.net)
        t0 = time.monotonic()
        c = Client(env.smtp_addr, source=env.ip(0, 9))
        code, lines = c.reply()
        waited = time.monotonic() - t0
        assert code == 220 and 2.8 <= waited < 8, (lines, waited)
        for cmd in ("EHLO c.example", "MAIL FROM:<x@example.org>", "NOOP", "STARTTLS"):
            c.expect(cmd, 503, r"^503 Command refused, required Proxy negotiation failed$")
        c.expect("QUIT", 221)
        assert c.at_eof()
        c.close()
        assert env.log_grep(r"PROXY header from \[%s9\]:\d+: none within 3000 ms" % n)
        assert env.log_grep(r"PXV session=yes proxy=: target=: client=%s9:\d+" % n)
        # a host not in proxy_required_hosts is greeted at once and never asked
        t0 = time.monotonic()
        c = Client(env.smtp_addr, source=env.ip(0, 30))
        assert c.reply()[0] == 220 and time.monotonic() - t0 < 2
        c.expect("EHLO c.example", 250)
        c.expect("QUIT", 221)
        c.close()
        assert env.log_grep(r"PXV session=no proxy=: target=: client=%s30:\d+" % n)
        assert sink.messages() == []


def closed_without_reply(env, data, shut=False, wait=8):
    """Send data from the proxy's address: the server closes, saying nothing."""
    s = socket.create_connection(spatetest.split_addr(env.smtp_addr), timeout=wait,
                                 source_address=(env.ip(0, 9), 0))
    try:
        s.sendall(data)
        if shut:
            s.shutdown(socket.SHUT_WR)
        got = b""
        while True:
            try:
                chunk = s.recv(4096)
            except ConnectionResetError:
                break
            if not chunk:
                break
            got += chunk
        assert got == b"", "reply to %r: %r" % (data[:40], got)
    finally:
        s.close()


def test_malformed_headers_close_the_connection():
    env, sink = start("inp_bad")
    with env:
        bad_crc = bytearray(CAPTURE_V2)
        bad_crc[-5] ^= 0x10
        bad_sig = bytearray(CAPTURE_V2)
        bad_sig[6] = 0x0B
        too_long = bytearray(CAPTURE_V2)
        too_long[14:16] = b"\xff\xff"
        short_len = bytearray(CAPTURE_V2[:16] + CAPTURE_V2[16:24])
        short_len[14:16] = b"\x00\x08"
        cases = [
            (b"EHLO c.example\r\n", "not a PROXY protocol header"),
            (bytes(bad_sig), "not a PROXY protocol header"),
            (b"PROXY TCP4 192.0.2.1 192.0.2.2 1 2\n", "malformed v1 header"),
            (b"PROXY TCP4 192.0.2.1 192.0.2.2 01 2\r\n", "malformed v1 header"),
            (b"PROXY UNKNOWN " + b"x" * 100 + b"\r\n", "header too long"),
            (bytes(too_long), "header too long"),
            (bytes(short_len), "v2 length shorter than its addresses"),
            (bytes(bad_crc), "v2 CRC32C mismatch"),
        ]
        for data, why in cases:
            closed_without_reply(env, data)
            assert env.log_grep(r"PROXY header from .* refused: %s" % re.escape(why)), why
        closed_without_reply(env, CAPTURE_V2[:20], shut=True)
        assert env.log_grep(r"refused: truncated header \(connection closed\)")
        t0 = time.monotonic()
        closed_without_reply(env, b"PROXY TCP4 192.0.2.1 ")
        assert time.monotonic() - t0 >= 2.8
        assert env.log_grep(r"refused: truncated header \(timeout\)")
        # swaks: a raw malformed v1 line, then a good v2 header
        base = ["--server", env.smtp_addr, "--local-interface", env.ip(0, 9),
                "--from", "s@example.org", "--to", "r@%s" % D1, "--timeout", "10"]
        rc, out = swaks(base + ["--proxy", "TCP4 192.0.2.1 192.0.2.2 1 65536"])
        assert rc != 0, out
        assert len(env.log_grep(r"refused: malformed v1 header")) == 3
        rc, out = swaks(base + ["--proxy-version", "2", "--proxy-family", "AF_INET",
                                "--proxy-source", env.ip(0, 77), "--proxy-source-port", "4444",
                                "--proxy-dest", "198.51.100.5", "--proxy-dest-port", "25"])
        assert rc == 0, out
        # spated is still up, and only the good message was queued
        msgs = sink.wait_messages(1)
        time.sleep(0.5)
        assert len(sink.messages()) == 1, msgs
        assert len(env.log_grep(r" <= ")) == 1, env.log_grep(r" <= ")
        assert env.log_grep(r"<= s@example\.org H=\(\S+\) \[127\.%d\.0\.77\]:4444 P=esmtp "
                            r"PRX=127\.%d\.0\.9 S=" % (env.net, env.net)), env.main_log()
        env.spated.check_alive()


def proxied(env, client, extra=b""):
    """A connection from the proxy's address that names client in a v1 header."""
    c = Client(env.smtp_addr, source=env.ip(0, 9))
    c.send(b"PROXY TCP4 %s 192.0.2.25 40000 25\r\n" % client.encode() + extra)
    return c


def test_limits_and_sync_after_the_header():
    env, sink = start("inp_limits", "smtp_accept_max_per_host=1")
    with env:
        n = re.escape("127.%d.0." % env.net)
        first = proxied(env, env.ip(0, 40))
        assert first.reply()[0] == 220
        # the same client again through the proxy: over its own limit
        second = proxied(env, env.ip(0, 40))
        code, lines = second.reply()
        assert code == 421 and lines[0].startswith("421 4.7.0"), lines
        assert second.at_eof()
        second.close()
        # another client through the same proxy: the proxy is no longer counted
        third = proxied(env, env.ip(0, 41))
        assert third.reply()[0] == 220
        third.expect("QUIT", 221)
        third.close()
        first.expect("QUIT", 221)
        first.close()
        assert env.log_grep(r"\[%s9\]:\d+ dropped: too many connections from proxied client \[%s40\]:40000" % (n, n))
        # a command sent with the header, before the greeting: a synchronization error
        c = proxied(env, env.ip(0, 42), b"EHLO early.example\r\n")
        code, lines = c.reply()
        assert code == 554 and "synchronization" in lines[0], lines
        c.close()
        assert sink.messages() == []


spatetest.main(globals())

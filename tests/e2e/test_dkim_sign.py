"""test_dkim_sign - DKIM signing on the smtp transport end to end: spated
signs with two selectors (RSA-2048 and Ed25519, the key file chosen by
$dkim_selector, the domain by $sender_address_domain), delivers to
spate-sink, and dkimpy (python3-dkim) verifies both signatures of every
stored message with the key records served by the test's nsd. With an unreadable
key the message goes out unsigned and the log says why. Signing runs on the
signing threads, never on a delivery thread: a key that takes long to read
holds only its own message; and a message is signed once however many
domains and attempts it takes."""

import base64
import json
import os
import re
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import spatetest  # noqa: E402
from spatetest import Env, smtp_send, wait_for  # noqa: E402
from spatetest_base import Skip, corpus_messages, TLD  # noqa: E402

SENDER_DOMAIN = "sender.%s" % TLD
TOKEN = "dkim-test-token"  # the harness listens on 127.N.0.1: the admin API wants one


def dkim_module():
    if "/usr/lib/python3/dist-packages" not in sys.path:
        sys.path.append("/usr/lib/python3/dist-packages")  # Debian's python3-dkim
    try:
        import dkim
        import nacl.signing  # noqa: F401
        return dkim
    except ImportError as e:
        raise Skip("dkimpy or PyNaCl missing (python3-dkim, python3-nacl): %s" % e)


def make_keys(d):
    """rsa.pem and ed.pem in d; their TXT records as zone-file lines"""
    os.makedirs(d, exist_ok=True)
    subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
                    "-out", os.path.join(d, "rsa.pem")], check=True, capture_output=True)
    subprocess.run(["openssl", "genpkey", "-algorithm", "ed25519", "-out",
                    os.path.join(d, "ed.pem")], check=True, capture_output=True)

    def pub(name):
        return subprocess.run(["openssl", "pkey", "-in", os.path.join(d, name), "-pubout",
                               "-outform", "DER"], check=True, capture_output=True).stdout

    rsa = "v=DKIM1; k=rsa; p=" + base64.b64encode(pub("rsa.pem")).decode()
    ed = "v=DKIM1; k=ed25519; p=" + base64.b64encode(pub("ed.pem")[-32:]).decode()
    # one TXT record, several strings of at most 255 octets (RFC 6376 §3.6.2.2)
    rsa_txt = " ".join('"%s"' % rsa[i:i + 250] for i in range(0, len(rsa), 250))
    return ['rsa._domainkey.%s. IN TXT %s' % (SENDER_DOMAIN, rsa_txt),
            'ed._domainkey.%s. IN TXT "%s"' % (SENDER_DOMAIN, ed)]


def dns_txt(env):
    """a dkimpy dnsfunc that asks the test's nsd"""
    def lookup(name, timeout=5):
        rcode, answers = env.drill(name.decode().rstrip(".") + ".", "TXT")
        for _, rtype, rdata in answers:
            if rtype == "TXT":
                return "".join(re.findall(r'"((?:[^"\\]|\\.)*)"', rdata)).encode()
        return None
    return lookup


TRANSPORTS = """remote_smtp:
  driver = smtp
  port = %(port)d
  dkim_domain = ${sender_address_domain}
  dkim_selector = rsa : ed
  dkim_private_key = %(keys)s/${dkim_selector}.pem
  dkim_canon = relaxed
  dkim_sign_headers = From:+To:+Subject:Date:Message-ID:=Cc:MIME-Version:Content-Type
"""


def test_spated_signs_dkimpy_verifies():
    dkim = dkim_module()
    with Env("dkim-sign") as env:
        keydir = env.path("keys")
        env.start_dns(env.mx_zone(1) + make_keys(keydir))
        sink = env.start_spate_sink(env.sink_addrs(1))
        env.start_spated(env.write_config(transports=TRANSPORTS % {
            "port": spatetest.SINK_PORT, "keys": keydir}))
        msgs = [(n, b) for n, b in corpus_messages() if not b.startswith(b"From ")]
        host, port = env.smtp_addr.rsplit(":", 1)
        for i, (name, data) in enumerate(msgs):
            code, text = smtp_send(host, int(port), "s%d@%s" % (i, SENDER_DOMAIN),
                                   ["r%d@d1.%s" % (i, TLD)], data)
            assert code == 250, (name, code, text)
        stored = sink.wait_messages(len(msgs), timeout=60)
        lookup = dns_txt(env)
        verified = 0
        for envelope, data in stored:
            assert data.count(b"DKIM-Signature:") >= 2, data[:400]
            try:
                d = dkim.DKIM(data)
            except dkim.MessageFormatError:
                continue  # a header block dkimpy cannot read (msg_02's digest)
            verified += 1
            for idx in (0, 1):
                assert d.verify(idx=idx, dnsfunc=lookup), (idx, envelope, data[:800])
            sels = re.findall(rb"\bs=(\w+);", data.split(b"\r\n\r\n", 1)[0])
            assert set(sels[:2]) == {b"rsa", b"ed"}, sels
        assert verified >= len(msgs) - 3, (verified, len(msgs))
        # tampering after the fact is seen
        envelope, data = stored[0]
        bad = data.replace(b"\r\n\r\n", b"\r\n\r\nX", 1)
        try:
            ok = dkim.DKIM(bad).verify(idx=0, dnsfunc=lookup)
        except dkim.ValidationError:
            ok = False
        assert not ok


def test_bad_key_sends_unsigned_and_logs():
    with Env("dkim-badkey") as env:
        env.start_dns(env.mx_zone(2))
        sink = env.start_spate_sink(env.sink_addrs(2))
        transports = ("remote_smtp:\n  driver = smtp\n  port = %d\n"
                      "  dkim_domain = ${sender_address_domain}\n  dkim_selector = s1\n"
                      "  dkim_private_key = /nonexistent/key.pem\n" % spatetest.SINK_PORT)
        env.start_spated(env.write_config(transports=transports))
        host, port = env.smtp_addr.rsplit(":", 1)
        msg = b"From: a@%s\r\nSubject: hi\r\n\r\nbody\r\n" % SENDER_DOMAIN.encode()
        code, _ = smtp_send(host, int(port), "a@" + SENDER_DOMAIN, ["b@d1.%s" % TLD], msg)
        assert code == 250
        (envelope, data), = sink.wait_messages(1)
        assert b"DKIM-Signature" not in data
        wait_for(lambda: env.log_grep("DKIM signing failed"), 10, what="the DKIM log line")


ROUTERS_SPLIT = """signed:
  driver = dnslookup
  domains = d1.%(tld)s
  transport = signed_smtp
plain:
  driver = dnslookup
  transport = remote_smtp
"""

TRANSPORTS_SPLIT = """signed_smtp:
  driver = smtp
  port = %(port)d
  dkim_domain = ${sender_address_domain}
  dkim_selector = rsa
  dkim_private_key = %(key)s
remote_smtp:
  driver = smtp
  port = %(port)d
"""


def release_fifo(path, text):
    """write text into the FIFO if spated is waiting on it (no reader: nothing)"""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
    except OSError:
        return False
    try:
        os.set_blocking(fd, True)
        os.write(fd, text)
    finally:
        os.close(fd)
    return True


def test_slow_key_does_not_hold_the_delivery_thread():
    """The private key is a FIFO nobody writes yet: reading it blocks the
    thread that signs. With one delivery thread, an unsigned message to
    another domain must still go out meanwhile; the signed one follows once
    the key arrives, and verifies."""
    dkim = dkim_module()
    with Env("dkim-slowkey") as env:
        keydir = env.path("keys")
        env.start_dns(env.mx_zone(2) + make_keys(keydir))
        sink = env.start_spate_sink(env.sink_addrs(2))
        fifo = env.path("slow-key.pem")
        os.mkfifo(fifo)
        with open(os.path.join(keydir, "rsa.pem"), "rb") as f:
            key = f.read()
        conf = env.write_config(
            extra_main="worker_threads = 1",
            routers=ROUTERS_SPLIT % {"tld": TLD},
            transports=TRANSPORTS_SPLIT % {"port": spatetest.SINK_PORT, "key": fifo})
        env.start_spated(conf)
        host, port = env.smtp_addr.rsplit(":", 1)
        sender = "a@" + SENDER_DOMAIN
        try:
            msg = b"From: %s\r\nSubject: signed\r\n\r\nsigned body\r\n" % sender.encode()
            assert smtp_send(host, int(port), sender, ["x@d1.%s" % TLD], msg)[0] == 250
            time.sleep(1)  # the signed message is routed, and waits for its key, first
            msg2 = b"From: %s\r\nSubject: plain\r\n\r\nplain body\r\n" % sender.encode()
            assert smtp_send(host, int(port), sender, ["y@d2.%s" % TLD], msg2)[0] == 250
            (_, data2), = sink.wait_messages(1, timeout=10)
            assert b"Subject: plain" in data2 and b"DKIM-Signature" not in data2
            assert not env.log_grep(r"=> x@d1\."), "signed before its key could be read"
        finally:
            assert wait_for(lambda: release_fifo(fifo, key), 10, what="spated reading the key")
        stored = sink.wait_messages(2, timeout=20)
        signed = [d for _, d in stored if b"Subject: signed" in d]
        assert len(signed) == 1 and b"DKIM-Signature:" in signed[0], stored
        assert dkim.DKIM(signed[0]).verify(dnsfunc=dns_txt(env))


def admin_retry(env, domain):
    """POST /api/v1/admin/retry for domain; the number of messages touched"""
    req = urllib.request.Request(env.http_url + "/api/v1/admin/retry", method="POST",
                                 data=json.dumps({"domain": domain}).encode(),
                                 headers={"Content-Type": "application/json",
                                          "Authorization": "Bearer " + TOKEN})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.load(r)["affected"]


def test_signed_once_per_message():
    """One message to three domains through one signing transport, the third
    domain's receiver down at first (deferred, tried again at the operator's
    word): three signed copies, one signing (spate_dkim_signed_messages_total)."""
    dkim = dkim_module()
    with Env("dkim-once") as env:
        keydir = env.path("keys")
        env.start_dns(env.mx_zone(3) + make_keys(keydir))
        sink = env.start_spate_sink(env.sink_addrs(2))
        with open(env.path("tokens"), "w") as f:
            f.write("admin %s\n" % TOKEN)
        env.start_spated(env.write_config(
            extra_main="admin_token_file = %s" % env.path("tokens"),
            transports=TRANSPORTS % {"port": spatetest.SINK_PORT, "keys": keydir}))
        host, port = env.smtp_addr.rsplit(":", 1)
        msg = b"From: a@%s\r\nSubject: three\r\n\r\nbody\r\n" % SENDER_DOMAIN.encode()
        rcpts = ["r@d%d.%s" % (k, TLD) for k in (1, 2, 3)]
        assert smtp_send(host, int(port), "a@" + SENDER_DOMAIN, rcpts, msg)[0] == 250
        sink.wait_messages(2, timeout=20)
        wait_for(lambda: env.log_grep(r" == r@d3\."), 20, what="the deferral of d3")
        sink3 = env.start_spate_sink(env.sink_addrs(3)[2:])
        assert admin_retry(env, "d3.%s" % TLD) == 1  # now, not after the host's back-off
        (_, data3), = sink3.wait_messages(1, timeout=15)
        copies = [d for _, d in sink.messages()] + [data3]
        lookup = dns_txt(env)
        for d in copies:
            assert d.count(b"DKIM-Signature:") == 2, d[:300]
            assert dkim.DKIM(d).verify(idx=0, dnsfunc=lookup)
        m = spatetest.metrics(env.http_url)
        assert m.get("spate_dkim_signed_messages_total") == 1, m


spatetest.main(globals())

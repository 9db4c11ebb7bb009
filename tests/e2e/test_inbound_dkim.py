"""test_inbound_dkim - DKIM verification on spate's SMTP server: nsd serves
the key records (RSA-2048 and Ed25519) of sender.spate-test, dkimpy
(python3-dkim) signs the messages a client sends, acl_smtp_dkim runs once
per signer and denies "dkim_status = fail", the DATA ACL adds
$authentication_results at the top of the message, and the sink receives it.
Cases: pass (RSA and Ed25519, and the delivered message still verifies with
dkimpy), a tampered body (fail, 550 with $dkim_verify_reason), an unsigned
message (none; a signer named in dkim_verify_signers that did not sign gets
the ACL with status none), a selector without a key record (invalid,
pubkey_unavailable), and SPF in the same header."""

import base64
import os
import re
import smtplib
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import spatetest  # noqa: E402
from spatetest import Env, wait_for  # noqa: E402
from spatetest_base import Skip  # noqa: E402

TLD = spatetest.TLD
DOM = "sender.%s" % TLD
D1 = "d1.%s" % TLD
HOST = "spate.%s" % TLD

ACL = """r:
  warn spf = pass : fail : softfail : none : neutral : permerror : temperror
  accept
dk:
  deny dkim_status = fail
       message = DKIM signature of $dkim_cur_signer failed: $dkim_verify_reason
  warn logwrite = dkim acl <$dkim_cur_signer> $dkim_verify_status <$dkim_verify_reason> \\
                  $dkim_algo $dkim_key_length s=$dkim_selector
  accept
d:
  warn logwrite = dkim data $dkim_verify_status signers=<$dkim_signers>
  warn add_header = :at_start:$authentication_results
  accept
"""


def dkim_module():
    if "/usr/lib/python3/dist-packages" not in sys.path:
        sys.path.append("/usr/lib/python3/dist-packages")  # Debian's python3-dkim
    try:
        import dkim
        import nacl.signing  # noqa: F401
        return dkim
    except ImportError as e:
        raise Skip("dkimpy or PyNaCl missing (python3-dkim, python3-nacl): %s" % e)


def openssl(*args):
    return subprocess.run(["openssl"] + list(args), check=True, capture_output=True).stdout


class Keys:
    """rsa.pem and ed.pem; the private keys as dkimpy wants them and the
    zone-file lines of their records"""

    def __init__(self, d):
        os.makedirs(d, exist_ok=True)
        rsa, ed = os.path.join(d, "rsa.pem"), os.path.join(d, "ed.pem")
        openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", rsa)
        openssl("genpkey", "-algorithm", "ed25519", "-out", ed)
        with open(rsa, "rb") as f:
            self.rsa = f.read()
        self.ed = base64.b64encode(openssl("pkey", "-in", ed, "-outform", "DER")[-32:])
        rsa_rec = "v=DKIM1; k=rsa; p=" + base64.b64encode(
            openssl("pkey", "-in", rsa, "-pubout", "-outform", "DER")).decode()
        ed_rec = "v=DKIM1; k=ed25519; p=" + base64.b64encode(
            openssl("pkey", "-in", ed, "-pubout", "-outform", "DER")[-32:]).decode()
        strings = " ".join('"%s"' % rsa_rec[i:i + 250] for i in range(0, len(rsa_rec), 250))
        self.records = ["rsa._domainkey.%s. IN TXT %s" % (DOM, strings),
                        'ed._domainkey.%s. IN TXT "%s"' % (DOM, ed_rec),
                        '%s. IN TXT "v=spf1 ip4:127.0.0.0/8 -all"' % DOM]


def message(subject, body=b"Hello.\r\n"):
    return (b"From: Alice <alice@%s>\r\nTo: bob@%s\r\nSubject: %s\r\n"
            b"Date: Mon, 1 Jan 2024 00:00:00 +0000\r\nMessage-ID: <%s@%s>\r\n\r\n" % (
                DOM.encode(), D1.encode(), subject.encode(), subject.encode(),
                DOM.encode())) + body


def sign(dkim, keys, msg, selector):
    if selector == "ed":
        sig = dkim.sign(msg, b"ed", DOM.encode(), keys.ed, signature_algorithm=b"ed25519-sha256",
                        canonicalize=(b"relaxed", b"relaxed"))
    else:
        sig = dkim.sign(msg, selector.encode(), DOM.encode(), keys.rsa,
                        canonicalize=(b"relaxed", b"simple"))
    return sig.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n") + msg


def start(name, extra_main=""):
    env = Env(name)
    try:
        keys = Keys(env.path("keys"))
        env.start_dns(env.mx_zone(1) + keys.records)
        sink = env.start_spate_sink(env.sink_addrs(1))
        conf = env.write_config(
            extra_main="acl_smtp_rcpt = r\nacl_smtp_dkim = dk\nacl_smtp_data = d\n" + extra_main,
            retry="* * F,1h,1s\n\nbegin acl\n" + ACL + "\n")
        env.start_spated(conf)
    except BaseException:
        env.close(failed=True)
        raise
    return env, sink, keys


def send(env, data, sender="alice@" + DOM):
    host, port = spatetest.split_addr(env.smtp_addr)
    s = smtplib.SMTP(host, port, timeout=30)
    try:
        s.ehlo("client.example")
        s.mail(sender)
        assert s.rcpt("bob@%s" % D1)[0] == 250
        code, text = s.data(data)
        return code, text.decode()
    finally:
        s.quit()


def by_subject(sink, subject, n):
    for _, data in sink.wait_messages(n):
        if ("Subject: %s\r\n" % subject).encode() in data:
            return data
    raise AssertionError("no message with subject %s" % subject)


def dns_txt(env):
    def lookup(name, timeout=5):
        rcode, answers = env.drill(name.decode().rstrip(".") + ".", "TXT")
        for _, rtype, rdata in answers:
            if rtype == "TXT":
                return "".join(re.findall(r'"((?:[^"\\]|\\.)*)"', rdata)).encode()
        return None
    return lookup


def test_pass_fail_and_header():
    dkim = dkim_module()
    env, sink, keys = start("dkim_in")
    with env:
        assert send(env, sign(dkim, keys, message("rsa"), "rsa"))[0] == 250
        assert send(env, sign(dkim, keys, message("ed"), "ed"))[0] == 250
        bad = sign(dkim, keys, message("tampered"), "rsa").replace(b"Hello.", b"Hullo.")
        code, text = send(env, bad)
        assert code == 550, (code, text)
        assert "DKIM signature of %s failed: bodyhash_mismatch" % DOM in text, text
        data = by_subject(sink, "rsa", 2)
        top = data.split(b"\r\n", 1)[0].decode()
        assert top.startswith("Authentication-Results: %s; dkim=pass (2048-bit key) "
                              "header.d=%s header.i=@%s header.s=rsa header.a=rsa-sha256 "
                              "header.b=" % (HOST, DOM, DOM)), top
        assert top.endswith("; spf=pass smtp.mailfrom=alice@%s" % DOM), top
        assert dkim.DKIM(data).verify(dnsfunc=dns_txt(env)), data[:600]
        top = by_subject(sink, "ed", 2).split(b"\r\n", 1)[0].decode()
        assert re.search(r"dkim=pass \(\d+-bit key\) header.d=%s " % re.escape(DOM), top), top
        assert "header.s=ed header.a=ed25519-sha256" in top, top
        assert env.log_grep(r"dkim acl <%s> pass <> rsa-sha256 2048 s=rsa" % re.escape(DOM))
        assert env.log_grep(r"dkim acl <%s> pass <> ed25519-sha256 \d+ s=ed" % re.escape(DOM))
        assert env.log_grep(r"DKIM: d=%s s=rsa c=relaxed/simple a=rsa-sha256 b=2048 "
                            r"\[verification succeeded\]" % re.escape(DOM))
        assert env.log_grep(r"DKIM: d=%s s=rsa .*\[verification failed - bodyhash_mismatch\]"
                            % re.escape(DOM))
        assert env.log_grep(r"rejected after DATA \(DKIM ACL\)")
        assert len(sink.messages()) == 2


def test_unsigned_and_missing_key():
    dkim = dkim_module()
    other = "other.%s" % TLD
    env, sink, keys = start("dkim_none", "dkim_verify_signers = %s : $dkim_signers" % other)
    with env:
        assert send(env, message("plain"))[0] == 250
        assert send(env, sign(dkim, keys, message("nokey"), "nokey"))[0] == 250
        top = by_subject(sink, "plain", 2).split(b"\r\n", 1)[0].decode()
        assert top == ("Authentication-Results: %s; dkim=none; spf=pass smtp.mailfrom=alice@%s"
                       % (HOST, DOM)), top
        top = by_subject(sink, "nokey", 2).split(b"\r\n", 1)[0].decode()
        assert ("; dkim=permerror (pubkey_unavailable) header.d=%s header.i=@%s header.s=nokey"
                % (DOM, DOM)) in top, top
        # the unsigned message: the ACL ran for the listed signer only, with none
        assert env.log_grep(r"dkim acl <%s> none <>  " % re.escape(other))
        assert env.log_grep(r"dkim data none signers=<>")
        assert env.log_grep(r"dkim acl <%s> invalid <pubkey_unavailable> rsa-sha256  s=nokey"
                            % re.escape(DOM))
        assert env.log_grep(r"dkim data invalid signers=<%s>" % re.escape(DOM))
        assert len(env.log_grep(r"dkim acl <%s>" % re.escape(other))) == 2


if __name__ == "__main__":
    spatetest.main(globals())

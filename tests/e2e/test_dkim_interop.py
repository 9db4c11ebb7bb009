"""test_dkim_interop - spate's DKIM signer and verifier (mailauth/dkim.h,
driven through build/tests/dkim_tool) held against an independent one,
dkimpy (Debian's python3-dkim), over every message of tests/data/corpus:

- dkimpy signs (rsa-sha256 and ed25519-sha256, each canonicalization, with
  and without l=), spate verifies: pass; then a changed body and a changed
  From field: fail.
- spate signs (both algorithms, each canonicalization, sometimes both keys
  on one message), dkimpy verifies every signature.

Messages are taken as spate sends them: line ends made CRLF, and a leading
mbox "From " separator dropped (it is not part of the message)."""

import base64
import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import spatetest  # noqa: E402
from spatetest_base import Skip, canonical, corpus_messages, bounce_messages  # noqa: E402

TOOL = os.path.join(spatetest.BUILD, "tests", "dkim_tool")
DOMAIN = b"example.org"
CANONS = [(b"simple", b"simple"), (b"relaxed", b"relaxed"), (b"simple", b"relaxed"),
          (b"relaxed", b"simple")]
ENV = dict(os.environ, ASAN_OPTIONS="detect_leaks=1")


def dkim_module():
    # Debian installs python3-dkim for its own Python; a test run under
    # another interpreter (pyenv) finds it there
    if "/usr/lib/python3/dist-packages" not in sys.path:
        sys.path.append("/usr/lib/python3/dist-packages")
    try:
        import dkim
        import nacl.signing  # noqa: F401  (dkimpy's Ed25519)
        return dkim
    except ImportError as e:
        raise Skip("dkimpy or PyNaCl missing (python3-dkim, python3-nacl): %s" % e)


def messages():
    """Every corpus message, as sent."""
    out = list(corpus_messages()) + list(bounce_messages())
    assert len(out) == 228, len(out)
    for name, data in out:
        data = canonical(data)
        if data.startswith(b"From "):
            data = data.split(b"\r\n", 1)[1]
        yield name, data


class Keys:
    """An RSA-2048 and an Ed25519 key in a temporary directory, with their
    key records, for selectors "rsa" and "ed"."""

    def __init__(self, d):
        self.dir = d
        self.rsa_pem = os.path.join(d, "rsa.pem")
        self.ed_pem = os.path.join(d, "ed.pem")
        subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt",
                        "rsa_keygen_bits:2048", "-out", self.rsa_pem], check=True,
                       capture_output=True)
        subprocess.run(["openssl", "genpkey", "-algorithm", "ed25519", "-out", self.ed_pem],
                       check=True, capture_output=True)
        rsa_pub = self._der(self.rsa_pem, True)
        self.ed_seed = base64.b64encode(self._der(self.ed_pem, False)[-32:])
        ed_pub = self._der(self.ed_pem, True)[-32:]
        self.records = {
            b"rsa._domainkey.example.org.": b"v=DKIM1; k=rsa; p=" + base64.b64encode(rsa_pub),
            b"ed._domainkey.example.org.": b"v=DKIM1; k=ed25519; p=" + base64.b64encode(ed_pub),
        }
        self.keys_file = os.path.join(d, "keys")
        with open(self.keys_file, "wb") as f:
            for name, rec in self.records.items():
                f.write(name[:-1] + b" " + rec + b"\n")
        with open(self.rsa_pem, "rb") as f:
            self.rsa_text = f.read()

    @staticmethod
    def _der(pem, pub):
        args = ["openssl", "pkey", "-in", pem, "-outform", "DER"] + (["-pubout"] if pub else [])
        return subprocess.run(args, check=True, capture_output=True).stdout

    def dns(self, name, timeout=5):
        return self.records.get(name)


def spate_verify(keys, data):
    """spate's verdicts, one (status, reason, algorithm) per signature."""
    p = subprocess.run([TOOL, "verify", keys.keys_file], input=data, capture_output=True,
                       env=ENV, timeout=30)
    assert p.returncode == 0, p.stderr
    return [tuple(l.split()[:3]) for l in p.stdout.decode().splitlines()]


def spate_sign(keys, data, sel, canon):
    key = keys.rsa_pem if sel == "rsa" else keys.ed_pem
    p = subprocess.run([TOOL, "sign", "example.org", sel, key, canon], input=data,
                       capture_output=True, env=ENV, timeout=30)
    assert p.returncode == 0, p.stderr
    return p.stdout


def tamper_body(data):
    head, sep, body = data.partition(b"\r\n\r\n")
    return head + sep + b"X" + body if sep else data + b"\r\nX\r\n"


def tamper_from(data):
    head, sep, body = data.partition(b"\r\n\r\n")
    new, n = re.subn(rb"(?im)^(from:)", rb"\1 tampered", head, count=1)
    if n == 0:
        new = head + b"\r\nFrom: tampered@example.org"
    return new + sep + body


def test_dkimpy_signs_spate_verifies():
    dkim = dkim_module()
    with tempfile.TemporaryDirectory() as d:
        keys = Keys(d)
        done = refused = 0
        for i, (name, data) in enumerate(messages()):
            canon = CANONS[i % 4]
            ed = (i // 4) % 2 == 1
            length = i % 3 == 0
            args = dict(canonicalize=canon, length=length,
                        signature_algorithm=b"ed25519-sha256" if ed else b"rsa-sha256")
            if not re.search(rb"(?im)^from:", data.partition(b"\r\n\r\n")[0]):
                # no From field: dkimpy's default list leaves it out, name it
                args["include_headers"] = (b"from",) + dkim.DKIM.SHOULD
            try:
                sig = dkim.sign(data, b"ed" if ed else b"rsa", DOMAIN,
                                keys.ed_seed if ed else keys.rsa_text, **args)
            except dkim.MessageFormatError:
                refused += 1  # dkimpy cannot parse the header block
                continue
            signed = sig + data
            what = "%s %s/%s %s l=%s" % (name, canon[0], canon[1], "ed" if ed else "rsa", length)
            v = spate_verify(keys, signed)
            assert v and v[0][0] == "pass", (what, v)
            assert v[0][2] == ("ed25519-sha256" if ed else "rsa-sha256"), (what, v)
            v = spate_verify(keys, tamper_from(signed))
            assert v[0][0] == "fail" and v[0][1] == "signature_incorrect", (what, v)
            if not (length and re.search(rb"\bl=0;", sig)):
                v = spate_verify(keys, tamper_body(signed))
                assert v[0][0] == "fail" and v[0][1] == "bodyhash_mismatch", (what, v)
            done += 1
        print("dkimpy signed, spate verified: %d messages (%d refused by dkimpy)" % (done, refused))
        assert done >= 200


def test_rsa_sha1_reported():
    dkim = dkim_module()
    with tempfile.TemporaryDirectory() as d:
        keys = Keys(d)
        name, data = next(messages())
        sig = dkim.sign(data, b"rsa", DOMAIN, keys.rsa_text, signature_algorithm=b"rsa-sha1")
        v = spate_verify(keys, sig + data)
        assert v == [("pass", "-", "rsa-sha1")], v


def test_spate_signs_dkimpy_verifies():
    dkim = dkim_module()
    with tempfile.TemporaryDirectory() as d:
        keys = Keys(d)
        done = 0
        for i, (name, data) in enumerate(messages()):
            canon = "%s/%s" % tuple(c.decode() for c in CANONS[i % 4])
            sels = [["rsa"], ["ed"], ["ed", "rsa"]][i % 3]
            signed = data
            for sel in sels:
                signed = spate_sign(keys, signed, sel, canon)
            for idx in range(len(sels)):
                try:
                    ok = dkim.DKIM(signed).verify(idx=idx, dnsfunc=keys.dns)
                except dkim.MessageFormatError:
                    ok = None  # dkimpy cannot parse the header block
                assert ok is not False, (name, canon, sels, idx, signed[:600])
            done += ok is True
        print("spate signed, dkimpy verified: %d messages" % done)
        assert done >= 200


spatetest.main(globals())

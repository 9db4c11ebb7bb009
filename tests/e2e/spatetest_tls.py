"""spatetest_tls - TLS material, DNSSEC-signed zones and Postfix for spatetest.

The helpers of the TLS, DANE and real-MTA tests (spki_sha256, ocsp_backdate,
zone signing with ldns, SignedDomain, PostfixReceiver) and EnvTls, the part
of spatetest.Env that makes certificates (make_certs), starts a STARTTLS
spate-sink (start_tls_sink), serves signed zones (start_signed_dns,
unbound_host) and runs a private Postfix (start_postfix_receiver). Tests
reach all of it through spatetest.
"""

import datetime
import glob
import hashlib
import os
import re
import shutil
import signal
import subprocess

from spatetest_base import (TLD, DNS_PORT, SINK_PORT, SRC, Skip, wait_for, split_addr,
    is_listening, _pdeathsig, _tail, Proc)


# --------------------------------------------------------------------------
# TLS material, DNSSEC and Postfix peers (used by Env.make_certs,
# Env.start_signed_dns, Env.start_postfix_receiver)

FIXTURES = os.path.join(SRC, "tests", "fixtures")
POSTFIX = "/usr/sbin/postfix"
POSTFIX_MASTER = "/usr/lib/postfix/sbin/master"
# the DANE-TA host of start_signed_dns(): make_certs() puts it in srv-right's names
DANE_TA_HOST = "mx.ta.dane.%s" % TLD


def spki_sha256(pem_path):
    """SHA-256 (hex) of a PEM certificate's SubjectPublicKeyInfo: the data of a
    TLSA record with selector 1 and matching type 1."""
    pub = subprocess.run(["openssl", "x509", "-in", pem_path, "-noout", "-pubkey"],
                         stdout=subprocess.PIPE, check=True).stdout
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "der"], input=pub,
                         stdout=subprocess.PIPE, check=True).stdout
    return hashlib.sha256(der).hexdigest()


def _der_tlv(data, pos=0):
    """(header length, content length) of the DER element at pos."""
    n = data[pos + 1]
    if n < 0x80:
        return 2, n
    k = n & 0x7F
    return 2 + k, int.from_bytes(data[pos + 2:pos + 2 + k], "big")


def _der_content(tlv):
    hl, n = _der_tlv(tlv)
    return tlv[hl:hl + n]


def _der_children(content):
    out, pos = [], 0
    while pos < len(content):
        hl, n = _der_tlv(content, pos)
        out.append(content[pos:pos + hl + n])
        pos += hl + n
    return out


def _der(tag, content):
    n = len(content)
    if n < 0x80:
        return bytes([tag, n]) + content
    b = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(b)]) + b + content


def ocsp_backdate(good_der, signer_key, out, this_update, next_update):
    """Write to `out` a copy of the OCSP response `good_der` whose producedAt
    and thisUpdate become this_update and nextUpdate next_update (UTC
    datetimes), signed again with signer_key (ECDSA P-256 with SHA-256, like
    mkcerts.sh's responder): a correctly signed but stale proof, which the
    openssl command cannot make."""
    with open(good_der, "rb") as f:
        resp = f.read()
    status, wrapped = _der_children(_der_content(resp))
    oid, octets = _der_children(_der_content(_der_content(wrapped)))
    parts = _der_children(_der_content(_der_content(octets)))
    tbs, sigalg = parts[0], parts[1]
    if bytes.fromhex("2a8648ce3d040302") not in sigalg:
        raise AssertionError("ocsp_backdate: the response is not signed with ecdsa-with-SHA256")
    times = list(re.finditer(rb"\x18\x0f(\d{14})Z", tbs))
    if len(times) != 3:
        raise AssertionError("ocsp_backdate: want producedAt, thisUpdate, nextUpdate; found %d"
                             % len(times))
    tbs = bytearray(tbs)
    for m, t in zip(times, (this_update, this_update, next_update)):
        tbs[m.start(1):m.end(1)] = t.strftime("%Y%m%d%H%M%S").encode()
    sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", signer_key], input=bytes(tbs),
                         stdout=subprocess.PIPE, check=True).stdout
    basic = _der(0x30, bytes(tbs) + sigalg + _der(0x03, b"\0" + sig) + b"".join(parts[3:]))
    with open(out, "wb") as f:
        f.write(_der(0x30, status + _der(0xA0, _der(0x30, oid + _der(0x04, basic)))))


def _sign_zone(zdir, origin, text, validity=None):
    """Write ORIGIN's zone file in zdir and sign it with a fresh ECDSA P-256 key
    (ldns-keygen, ldns-signzone). validity = (inception, expiration) as
    YYYYMMDDhhmmss, or None for now + 4 weeks. Returns (signed file, DS file)."""
    zfile = os.path.join(zdir, origin + "zone")
    with open(zfile, "w") as f:
        f.write(text)
    key = _new_key(zdir, origin)
    argv = ["ldns-signzone"]
    if validity:
        argv += ["-i", validity[0], "-e", validity[1]]
    subprocess.run(argv + ["-o", origin, zfile, key], cwd=zdir, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return zfile + ".signed", os.path.join(zdir, key + ".ds")


def _new_key(zdir, origin):
    """A new key for ORIGIN in zdir (ldns-keygen -k); returns its file base name."""
    return subprocess.run(["ldns-keygen", "-a", "ECDSAP256SHA256", "-k", origin], cwd=zdir,
                          check=True, stdout=subprocess.PIPE,
                          stderr=subprocess.DEVNULL).stdout.decode().strip()


def _zone_head(origin, records):
    return "\n".join(["$TTL 300",
                      "%s IN SOA ns.%s. hostmaster.%s. 1 3600 600 86400 60" % (origin, TLD, TLD),
                      "%s IN NS ns.%s." % (origin, TLD)] + list(records)) + "\n"


def _read(path):
    with open(path) as f:
        return f.read()


class SignedDomain:
    """A mail domain served by Env.start_signed_dns():
    .domain, .mx (its MX host), .ip (the MX host's address, 127.N.3.X),
    .addr ('ip:12526'), .dnssec ('secure', 'insecure' or 'bogus'), .tlsa (the
    TLSA records served, as text), and .receiver: the make_certs() keys of what
    its receiver must present for the case to mean what its name says
    ('self' or 'right'), or None."""

    def __init__(self, domain, mx, ip, dnssec, tlsa, receiver):
        self.domain, self.mx, self.ip, self.dnssec = domain, mx, ip, dnssec
        self.addr = "%s:%d" % (ip, SINK_PORT)
        self.tlsa, self.receiver = tlsa, receiver

    def __repr__(self):
        return "SignedDomain(%s -> %s [%s], %s)" % (self.domain, self.mx, self.ip, self.dnssec)


class PostfixReceiver(Proc):
    """A Postfix instance (its master daemon, in its own process group so that
    stopping it stops its services) from Env.start_postfix_receiver():
    .addr, .dir, .maildir, .maillog, messages(), wait_messages(n), log(),
    log_grep(rx)."""

    def __init__(self, name, argv, workdir, env=None):  # noqa: D401 - like Proc, new session
        self.name = name
        self.argv = argv
        self.stdout_path = os.path.join(workdir, name + ".stdout")
        self.stderr_path = os.path.join(workdir, name + ".stderr")
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            self.popen = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out,
                                          stderr=err, cwd=workdir, env=env,
                                          preexec_fn=_pdeathsig, start_new_session=True)
        self.pid = self.popen.pid
        self.killed = False

    def stop(self, timeout=10):
        """SIGTERM to the master (it stops its services), then SIGKILL to the group."""
        rc = Proc.stop(self, timeout)
        try:
            os.killpg(self.pid, signal.SIGKILL)  # anything the master left behind
        except OSError:
            pass
        return rc

    def messages(self):
        """The delivered messages (bytes), oldest first (Maildir new/ and cur/)."""
        files = glob.glob(os.path.join(self.maildir, "new", "*")) + \
            glob.glob(os.path.join(self.maildir, "cur", "*"))
        out = []
        for path in sorted(files, key=os.path.getmtime):
            with open(path, "rb") as f:
                out.append(f.read())
        return out

    def wait_messages(self, n, timeout=30):
        wait_for(lambda: len(self.messages()) >= n, timeout,
                 what="%d messages in %s (log: %s)" % (n, self.maildir, self.maillog))
        return self.messages()

    def log(self):
        """The instance's maillog_file as text."""
        try:
            return _read(self.maillog)
        except OSError:
            return ""

    def log_grep(self, pattern):
        rx = re.compile(pattern)
        return [line for line in self.log().splitlines() if rx.search(line)]


POSTFIX_MASTER_CF = """\
{addr} inet n - n - - smtpd
pickup unix n - n 60 1 pickup
cleanup unix n - n - 0 cleanup
qmgr unix n - n 300 1 qmgr
tlsmgr unix - - n 1000? 1 tlsmgr
rewrite unix - - n - - trivial-rewrite
bounce unix - - n - 0 bounce
defer unix - - n - 0 bounce
trace unix - - n - 0 bounce
verify unix - - n - 1 verify
flush unix n - n 1000? 0 flush
proxymap unix - - n - - proxymap
proxywrite unix - - n - 1 proxymap
showq unix n - n - - showq
error unix - - n - - error
retry unix - - n - - error
discard unix - - n - - discard
virtual unix - n n - - virtual
anvil unix - - n - 1 anvil
scache unix - - n - 1 scache
postlog unix-dgram n - n - 1 postlogd
"""


class EnvTls:
    """The TLS, DNSSEC and Postfix methods of spatetest.Env (a mixin: they use
    its path(), ip(), _start(), start_dns() and start_spate_sink())."""

    # ---- TLS material (tests/fixtures/mkcerts.sh)

    def make_certs(self, k=1, extra_names=(), name=None):
        """Make a test PKI with tests/fixtures/mkcerts.sh in DIR/certs-dK (or
        DIR/NAME) for the names of test domain dK.spate-test. Returns a dict of
        paths (PEM unless noted):
          ca, ca_key           root CA;  int, int_key: intermediate CA
          chain                the intermediate, to send after a leaf
          right, wrong, wild, cnonly, expired   leaf certificates, each with
              NAME_key and NAME_chain (leaf + intermediate); their names are
              in certs["names"][NAME]: right mx.dK, mx2.dK, DANE_TA_HOST and
              extra_names; wrong other.dK; wild *.dK; cnonly (CN only) cn.dK;
              expired mx.dK (valid only in January 2020)
          self, self_key       self-signed (CN self.dK), for DANE-EE
          client, client_key, client_chain   a client certificate
          ocsp_good, ocsp_revoked, ocsp_expired, ocsp_noend, ocsp_other
              DER OCSP responses about `right` (signed by a responder the
              intermediate certified; good, revoked, ended 3 days ago, without
              nextUpdate, and a good one for `wrong` instead)
          crl (right is revoked), crl_ok (nothing revoked): root + intermediate CRLs
        plus "dir" and "domain" (dK.spate-test)."""
        domain = "d%d.%s" % (k, TLD)
        cdir = self.path(name or "certs-d%d" % k)
        os.makedirs(cdir)
        extra = [DANE_TA_HOST] + list(extra_names)
        env = dict(os.environ, MKCERTS_DOMAIN=domain, MKCERTS_EXTRA_SAN=",".join(extra))
        p = subprocess.run(["/bin/sh", os.path.join(FIXTURES, "mkcerts.sh"), cdir], env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
        if p.returncode != 0:
            raise AssertionError("mkcerts.sh failed:\n" + p.stdout.decode("utf-8", "replace"))

        def f(x):
            return os.path.join(cdir, x)
        certs = {"dir": cdir, "domain": domain, "ca": f("ca.pem"), "ca_key": f("ca.key"),
                 "int": f("int.pem"), "int_key": f("int.key"), "chain": f("int.pem"),
                 "self": f("self.pem"), "self_key": f("self.key"), "client": f("client.pem"),
                 "client_key": f("client.key"), "client_chain": f("srv-client-chain.pem"),
                 "ocsp_signer": f("ocsp.pem"), "ocsp_good": f("ocsp-good.der"),
                 "ocsp_revoked": f("ocsp-revoked.der"), "ocsp_noend": f("ocsp-noend.der"),
                 "ocsp_other": f("ocsp-other.der"), "ocsp_expired": f("ocsp-expired.der"),
                 "crl": f("crl.pem"), "crl_ok": f("ok.crl.pem")}
        for leaf in ("right", "wrong", "wild", "cnonly", "expired"):
            certs[leaf] = f("srv-%s.pem" % leaf)
            certs[leaf + "_key"] = f("srv-%s.key" % leaf)
            certs[leaf + "_chain"] = f("srv-%s-chain.pem" % leaf)
        certs["names"] = {"right": ["mx." + domain, "mx2." + domain] + extra,
                          "wrong": ["other." + domain], "wild": ["*." + domain],
                          "cnonly": ["cn." + domain], "expired": ["mx." + domain],
                          "self": ["self." + domain]}
        now = datetime.datetime.now(datetime.timezone.utc)
        ocsp_backdate(certs["ocsp_good"], f("ocsp.key"), certs["ocsp_expired"],
                      now - datetime.timedelta(days=10), now - datetime.timedelta(days=3))
        return certs

    def start_tls_sink(self, addrs, cert, key, chain=None, staple=None, starttls=True,
                       ask_client_cert=False, extra_args=(), **kw):
        """start_spate_sink() with STARTTLS: cert (PEM, may hold the chain too),
        key, chain (more chain certificates), staple (DER OCSP response),
        starttls=False for --no-starttls (certificate loaded, STARTTLS neither
        offered nor accepted), ask_client_cert for --tls-ask-client-cert."""
        args = ["--tls-cert", cert, "--tls-key", key]
        if chain:
            args += ["--tls-chain", chain]
        if staple:
            args += ["--ocsp-staple", staple]
        if not starttls:
            args.append("--no-starttls")
        if ask_client_cert:
            args.append("--tls-ask-client-cert")
        return self.start_spate_sink(addrs, extra_args=args + list(extra_args), **kw)

    # ---- DNSSEC-signed zones

    def signed_ip(self, x):
        """Receiver address X of the signed domains: 127.N.3.X"""
        return self.ip(3, x)

    def _signed_layout(self, certs):
        """{key: (zone, SignedDomain, extra zone lines)} of start_signed_dns()."""
        self_311 = "3 1 1 " + spki_sha256(certs["self"])
        d = {}

        def add(key, zone, domain, mx, x, dnssec, tlsa, receiver, extra=()):
            d[key] = (zone, SignedDomain(domain, mx, self.signed_ip(x), dnssec, tlsa, receiver),
                      list(extra))
        z = "dane.%s." % TLD
        for key, x, tlsa, rcv in (("ee", 1, self_311, "self"),
                                  ("ta", 2, "2 1 1 " + spki_sha256(certs["int"]), "right"),
                                  ("wrong", 3, "3 1 1 " + spki_sha256(certs["wrong"]), "self"),
                                  ("strip", 4, self_311, "self"),
                                  ("tlsafail", 6, "3 1 1 " + spki_sha256(certs["wrong"]), "self"),
                                  ("nousable", 11, None, "self")):
            dom = "%s.dane.%s" % (key, TLD)
            add(key, z, dom, "mx." + dom, x, "secure", tlsa, rcv)
        dom = "chain.dane.%s" % TLD
        add("chain", z, dom, "mx." + dom, 5, "secure", self_311, "self",
            ["mx.%s. IN CNAME c1.%s." % (dom, dom), "c1.%s. IN CNAME host.%s." % (dom, dom)])
        h = spki_sha256(certs["self"])
        d["nousable"][1].tlsa = "0 0 1 %s / 1 1 1 %s / 3 1 255 %s (none usable)" % (h, h, h)
        z = "insecure.%s." % TLD
        add("insecure", z, "insecure." + TLD, "mx.insecure." + TLD, 7, "insecure",
            "3 1 1 " + "00" * 32, "right")
        add("insecure_req", z, "req.insecure." + TLD, "mx2.insecure." + TLD, 8, "insecure", None,
            "right")
        add("bogus", "bogus.%s." % TLD, "bogus." + TLD, "mx.bogus." + TLD, 9, "bogus", self_311,
            "self")
        add("expired", "expired.%s." % TLD, "expired." + TLD, "mx.expired." + TLD, 10, "bogus",
            self_311, "self")
        return d

    def _signed_records(self, layout, zone):
        """Zone-file lines of one child zone of start_signed_dns()."""
        recs = []
        for _, sd, extra in (v for v in layout.values() if v[0] == zone):
            recs.append("%s. IN MX 10 %s." % (sd.domain, sd.mx))
            host = sd.mx
            if extra and "CNAME" in extra[0]:
                host = "host." + sd.domain
            recs.append("%s. IN A %s" % (host, sd.ip))
            if sd.tlsa and sd.tlsa[:2] in ("2 ", "3 "):
                recs.append("_%d._tcp.%s. IN TLSA %s" % (SINK_PORT, host, sd.tlsa))
            elif "none usable" in (sd.tlsa or ""):
                for rdata in sd.tlsa.split(" (")[0].split(" / "):
                    recs.append("_%d._tcp.%s. IN TLSA %s" % (SINK_PORT, host, rdata))
            recs.extend(extra)
        return recs

    def _break_tlsa(self, signed_file, sd, certs):
        """Change the TLSA data of sd in a signed zone file (its RRSIG no longer fits)."""
        old, new = sd.tlsa.split()[-1], spki_sha256(certs["self"])
        owner = "_%d._tcp.%s." % (SINK_PORT, sd.mx.rstrip("."))
        text = _read(signed_file)
        # only this host's TLSA: another domain may publish the same data
        text2 = "".join(re.sub(old, new, line, flags=re.I) if line.startswith(owner) else line
                        for line in text.splitlines(True))
        if text2 == text:
            raise AssertionError("no TLSA %s in %s" % (old, signed_file))
        with open(signed_file, "w") as f:
            f.write(text2)
        sd.tlsa = "3 1 1 %s (changed after signing: bogus)" % new

    def start_signed_dns(self, certs, records=()):
        """Start nsd (as start_dns) with the zone "spate-test." and children signed
        with DNSSEC (ldns-signzone, ECDSA P-256), and return the path of the
        trust anchor: the DS record of "spate-test." (for dns_trust_anchor_file).
        `records` are added to the signed "spate-test." zone. The mail domains,
        in self.signed (key -> SignedDomain; receivers on 127.N.3.X:12526):
          zone dane.spate-test (signed, DS in the parent: secure)
            ee        ee.dane.spate-test, MX mx.ee.dane, TLSA 3 1 1 of certs
                      "self" (X=1)
            ta        ta.dane.spate-test, MX mx.ta.dane (= DANE_TA_HOST, one of
                      "right"'s names), TLSA 2 1 1 of the intermediate (X=2)
            wrong     TLSA 3 1 1 of "wrong"'s key; its receiver shows "self" (X=3)
            strip     TLSA 3 1 1 of "self"; for a receiver with --no-starttls (X=4)
            chain     MX mx.chain.dane, a CNAME chain mx -> c1 -> host.chain.dane
                      (A, TLSA 3 1 1 of "self" at _12526._tcp.host...) (X=5)
            tlsafail  the TLSA lookup fails: its RRset is bogus (signed for
                      "wrong"'s key, then changed to "self"'s, which the
                      receiver shows: only a resolver that ignores the
                      validation failure would deliver) (X=6)
            nousable  TLSA usages 0 and 1 and matching type 255 only: secure,
                      none usable (X=11)
          zone insecure.spate-test (unsigned, no DS: insecure)
            insecure      MX mx.insecure, TLSA 3 1 1 00..00 (must be ignored) (X=7)
            insecure_req  req.insecure.spate-test, MX mx2.insecure (X=8)
          zone bogus.spate-test: signed, the parent's DS is another key's (X=9)
          zone expired.spate-test: signatures valid only in January 2020 (X=10)
        """
        zdir = self.path("dnssec")
        os.makedirs(zdir)
        layout = self._signed_layout(certs)
        self.signed = {k: v[1] for k, v in layout.items()}
        zones, parent = {}, ["ns.%s. IN A %s" % (TLD, self.dns_ip)] + list(records)
        for child, sign in (("dane", "ok"), ("insecure", None), ("bogus", "wrongds"),
                            ("expired", "expired")):
            origin = "%s.%s." % (child, TLD)
            text = _zone_head(origin, self._signed_records(layout, origin))
            parent.append("%s IN NS ns.%s." % (origin, TLD))
            if sign is None:
                zones[origin] = os.path.join(zdir, origin + "zone")
                with open(zones[origin], "w") as f:
                    f.write(text)
                continue
            validity = ("20200101000000", "20200201000000") if sign == "expired" else None
            zones[origin], ds = _sign_zone(zdir, origin, text, validity)
            if child == "dane":
                self._break_tlsa(zones[origin], layout["tlsafail"][1], certs)
            if sign == "wrongds":
                ds = os.path.join(zdir, _new_key(zdir, origin) + ".ds")
            parent.append(_read(ds).strip())
        zones[TLD + "."], ta = _sign_zone(zdir, TLD + ".", _zone_head(TLD + ".", parent))
        shutil.copy(ta, os.path.join(zdir, "ta.ds"))
        self.start_dns(zones=zones)
        return os.path.join(zdir, "ta.ds")

    def unbound_host(self, ta, name, rtype="A"):
        """Validate with unbound-host against this test's nsd and the trust
        anchor file ta. Returns (status, text): status is 'secure', 'insecure'
        or 'bogus' (as unbound-host -v reports), text its output. Raises Skip
        when unbound-host is not installed."""
        if not shutil.which("unbound-host"):
            raise Skip("unbound-host is not installed")
        conf = self.path("unbound-host.conf")
        with open(conf, "w") as f:
            f.write("server:\n  do-not-query-localhost: no\n  trust-anchor-file: \"%s\"\n"
                    "forward-zone:\n  name: \".\"\n  forward-addr: %s@%d\n"
                    % (ta, self.dns_ip, DNS_PORT))
        p = subprocess.run(["unbound-host", "-C", conf, "-v", "-t", rtype, name],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30)
        text = p.stdout.decode("utf-8", "replace")
        for status in ("(BOGUS", "(secure)", "(insecure)"):
            if status in text:
                return status.strip("()").lower(), text
        return "error", text

    # ---- a real MTA: Postfix

    def start_postfix_receiver(self, addr, cert, key, domains, extra_main=(), timeout=30):
        """Start a private Postfix (own config, queue, data and mail directories
        under DIR/postfix-IP_PORT) whose smtpd listens on addr ('ip:port', or an
        ip for 12526) and offers STARTTLS with cert (PEM, chain included) and
        key (smtpd_tls_security_level = may, smtpd_tls_loglevel = 1, TLS details
        in Received:), and delivers mail for `domains` (list) to one Maildir
        (virtual_mailbox_maps static). It logs to its own maillog_file. Needs
        root (Postfix does); raises Skip otherwise. Returns a PostfixReceiver
        with messages(), wait_messages(n), log(), log_grep(); stopped with the
        Env."""
        if os.geteuid() != 0 or not os.access(POSTFIX_MASTER, os.X_OK):
            raise Skip("a Postfix receiver needs root and postfix installed")
        if split_addr(addr)[1] is None:
            addr = "%s:%d" % (addr, SINK_PORT)
        pdir = self.path("postfix-" + addr.replace(":", "_"))
        conf, queue, data, mail = (os.path.join(pdir, x) for x in ("conf", "queue", "data",
                                                                   "mail"))
        for d in (conf, queue, data, mail):
            os.makedirs(d)
        os.chmod(self.dir, 0o711)  # the Postfix services run as postfix and nobody
        os.chmod(pdir, 0o755)
        shutil.chown(data, "postfix")
        shutil.chown(mail, "nobody")
        settings = [
            "compatibility_level = 3.6", "queue_directory = " + queue,
            "data_directory = " + data, "mail_owner = postfix", "setgid_group = postdrop",
            "syslog_name = postfix-" + re.sub(r"[^A-Za-z0-9]", "-", addr),
            "maillog_file = " + os.path.join(pdir, "maillog"), "maillog_file_prefixes = " + pdir,
            "myhostname = postfix.%s" % TLD, "mydomain = " + TLD, "mydestination =",
            "inet_interfaces = loopback-only", "inet_protocols = ipv4",
            "mynetworks = 127.0.0.0/8", "relay_domains =",
            "local_transport = error:local delivery is disabled", "alias_maps =",
            "alias_database =", "biff = no",
            "virtual_mailbox_domains = " + " ".join(domains),
            "virtual_mailbox_base = " + mail, "virtual_mailbox_maps = static:box/",
            "virtual_uid_maps = static:65534", "virtual_gid_maps = static:65534",
            "smtpd_tls_cert_file = " + cert, "smtpd_tls_key_file = " + key,
            "smtpd_tls_security_level = may", "smtpd_tls_loglevel = 1",
            "smtpd_tls_received_header = yes",
            "smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination",
        ] + list(extra_main)
        with open(os.path.join(conf, "main.cf"), "w") as f:
            f.write("\n".join(settings) + "\n")
        with open(os.path.join(conf, "master.cf"), "w") as f:
            f.write(POSTFIX_MASTER_CF.format(addr=addr))
        p = subprocess.run([POSTFIX, "-c", conf, "check"], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=60)
        if p.returncode != 0:
            raise AssertionError("postfix check failed (%s):\n%s" % (
                p.stdout.decode("utf-8", "replace"), _tail(os.path.join(pdir, "maillog"))))
        name = "postfix-" + addr.replace(":", "_")
        h = self._start(name, [POSTFIX_MASTER, "-c", conf, "-d"], PostfixReceiver)
        h.addr, h.dir, h.maildir = addr, pdir, os.path.join(mail, "box")
        h.maillog = os.path.join(pdir, "maillog")

        def up():
            if not h.alive():
                raise AssertionError("postfix master exited: %s\n%s" % (
                    h.stderr_text(), _tail(h.maillog)))
            return is_listening(addr)
        wait_for(up, timeout, 0.1, what="postfix smtpd on %s" % addr)
        return h


# --------------------------------------------------------------------------
# clients of spated's own STARTTLS and AUTH (test_inbound_tls.py,
# test_inbound_auth.py)


def s_client(addr, args=(), stdin=b"QUIT\r\n", timeout=20):
    """Run `openssl s_client -starttls smtp` against addr ('ip:port') with
    extra args; returns (exit status, stdout and stderr as text)."""
    host, port = split_addr(addr)
    argv = ["openssl", "s_client", "-connect", "%s:%d" % (host, port), "-starttls", "smtp",
            "-crlf"] + list(args)
    p = subprocess.run(argv, input=stdin, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=timeout)
    return p.returncode, p.stdout.decode("utf-8", "replace")


def pem_fingerprint(pem_text):
    """SHA-256 (hex) of the DER form of the first PEM certificate in pem_text,
    for instance the server certificate s_client prints."""
    m = re.search(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", pem_text, re.S)
    if not m:
        raise AssertionError("no certificate in:\n" + pem_text[-2000:])
    der = subprocess.run(["openssl", "x509", "-outform", "der"], input=m.group(0).encode(),
                         stdout=subprocess.PIPE, check=True).stdout
    return hashlib.sha256(der).hexdigest()


def smtp_starttls(client, ctx, command=b"STARTTLS\r\n", server_hostname=None):
    """STARTTLS on a spatetest_smtp.Client past EHLO: sends command (raw
    bytes: STARTTLS, perhaps with more input behind it), expects 220, then
    runs the handshake with the ssl.SSLContext ctx; the client talks TLS from
    then on. Raises ssl.SSLError (or OSError) if the handshake fails."""
    client.send(command)
    code, lines = client.reply()
    assert code == 220 and lines[0].startswith("220 2.0.0"), lines
    client.f.close()  # nothing may be buffered after the 220
    client.sock = ctx.wrap_socket(client.sock, server_hostname=server_hostname)
    client.f = client.sock.makefile("rb")
    return client


def crypt_sha512(password, salt="spatesalt"):
    """A SHA-512 crypt(3) string ($6$) of password (openssl passwd -6)."""
    return subprocess.run(["openssl", "passwd", "-6", "-salt", salt, "-stdin"],
                          input=password.encode(), stdout=subprocess.PIPE,
                          check=True).stdout.decode().strip()


def lmdb_file(path, pairs):
    """Write the LMDB file path (mdb_load -n -T) holding the (key, value)
    pairs: a password file for ${lookup{USER}lmdb{PATH}}."""
    src = path + ".txt"
    with open(src, "w") as f:
        f.write("".join("%s\n%s\n" % kv for kv in pairs))
    subprocess.run(["mdb_load", "-n", "-T", "-f", src, path], check=True,
                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    return path


def crypt_bcrypt(password):
    """A bcrypt crypt(3) string ($2b$, cost 4) of password, made with Python's
    crypt module where it still exists; otherwise a SHA-256 crypt ($5$, from
    openssl passwd -5)."""
    try:
        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            import crypt
        h = crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16))
        if h and h.startswith("$2"):
            return h
    except ImportError:
        pass
    return subprocess.run(["openssl", "passwd", "-5", "-salt", "spatesalt", "-stdin"],
                          input=password.encode(), stdout=subprocess.PIPE,
                          check=True).stdout.decode().strip()

"""spatetest - the end-to-end test harness (Python standard library only).

Every end-to-end test is a script `tests/e2e/test_*.py` run by ctest as
`python3 tests/e2e/test_x.py`, with SPATE_BUILD (the build directory holding
spated and perf/spate-sink) and SPATE_SRC (the source directory) in the
environment. Scripts may run in parallel, so each test gets its own loopback
network and temporary directory from Env.

Addresses (N = the Env's network octet, 20..250, from a stable hash of its
name; a taken N moves on to the next free one):

    127.N.0.53:15353   nsd, serving the zone "spate-test."
    127.N.0.1:2525     spated SMTP        127.N.0.1:8025   spated HTTP
    127.N.1.K:12526    receivers for test domain dK.spate-test (K = 1, 2, ...)
    127.N.3.X:12526    receivers for the DNSSEC-signed domains (start_signed_dns)

TLS, DANE and a real MTA (see test_tls.py): make_certs() runs
tests/fixtures/mkcerts.sh for dK.spate-test's names; start_tls_sink() is
start_spate_sink() with STARTTLS; start_signed_dns() serves "spate-test." and
child zones signed with ldns-signzone (secure, insecure, bogus, expired) and
returns the trust anchor file; start_postfix_receiver() runs a private Postfix
with STARTTLS (root only).

A test script looks like:

    import spatetest
    from spatetest import Env

    def test_something():
        with Env("something") as env:
            env.start_dns(env.mx_zone(2))
            sink = env.start_spate_sink(env.sink_addrs(2))
            spated = env.start_spated(env.write_config())
            ...

    spatetest.main(globals())

Env removes its temporary directory when the block ends without an exception;
on failure it keeps it, prints its path and the tail of the daemon's logs.
Every process an Env starts is stopped when it closes (SIGTERM, then SIGKILL),
again at interpreter exit, and by the kernel if the test runner itself dies
(PR_SET_PDEATHSIG).

The harness is three files: this one (Env and the runner), spatetest_base.py
(utilities, clients, process handles) and spatetest_tls.py (TLS material,
DNSSEC, Postfix, and EnvTls, the part of Env for them). spatetest imports
every name those two define, so tests import spatetest only.
"""

import atexit
import hashlib
import os
import re
import shutil
import socket
import subprocess  # noqa: F401 - tests call spatetest.subprocess
import sys
import tempfile
import time
import traceback

# every name of the two parts, as before the split (tests use spatetest.X)
from spatetest_base import (TLD, DNS_PORT, SINK_PORT, SMTP_PORT, HTTP_PORT, SMTP_SINK, SWAKS,
    _HERE, SRC, BUILD, CORPUS, Skip, wait_for, split_addr, _listening_sockets, is_listening,
    _pdeathsig, _tail, canonical, corpus_messages, bounce_messages, strip_trace_headers,
    _smtp_transaction, smtp_send, smtp_send_many, swaks, _http, _parse_body, http_inject,
    http_get, metrics, drill, Proc, SpateSink, SmtpSink, Spated)  # noqa: F401
from spatetest_tls import (FIXTURES, POSTFIX, POSTFIX_MASTER, DANE_TA_HOST, spki_sha256, _der_tlv,
    _der_content, _der_children, _der, ocsp_backdate, _sign_zone, _new_key, _zone_head, _read,
    SignedDomain, PostfixReceiver, POSTFIX_MASTER_CF, EnvTls)  # noqa: F401

_open_envs = []


# --------------------------------------------------------------------------
# the environment


def _claim_octet(name):
    """Pick the network octet: hash of name in 20..250, moving on while another
    test holds it. The claim is a bound (not listening) TCP socket on
    127.N.255.254:15999, released when the process exits."""
    first = int.from_bytes(hashlib.sha256(name.encode()).digest()[:4], "big") % 231
    for i in range(231):
        n = 20 + (first + i) % 231
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.bind(("127.%d.255.254" % n, 15999))
            return n, s
        except OSError:
            s.close()
    raise RuntimeError("no free 127.N.0.0/16 network for the test")


class Env(EnvTls):
    """A test's private network, temporary directory and processes."""

    def __init__(self, name):
        self.name = re.sub(r"[^A-Za-z0-9_.-]", "_", name)
        self.net, self._claim = _claim_octet(self.name)
        self.dir = tempfile.mkdtemp(prefix="spate-%s-" % self.name,
                                    dir=os.environ.get("TMPDIR") or None)
        self.dns_ip = "127.%d.0.53" % self.net
        self.dns_addr = "%s:%d" % (self.dns_ip, DNS_PORT)
        self.spated_ip = "127.%d.0.1" % self.net
        self.smtp_addr = "%s:%d" % (self.spated_ip, SMTP_PORT)
        self.http_url = "http://%s:%d" % (self.spated_ip, HTTP_PORT)
        self.log_path = os.path.join(self.dir, "main.log")
        self.spool_dir = os.path.join(self.dir, "spool")
        self.failed = False
        self.closed = False
        self.procs = []
        self.spated = None
        self.dns = None
        self._nsinks = 0
        self.signed = {}
        _open_envs.append(self)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        self.close(failed=exc_type is not None)
        return False

    # ---- addresses

    def ip(self, third, fourth):
        """127.N.third.fourth"""
        return "127.%d.%d.%d" % (self.net, third, fourth)

    def sink_ip(self, k):
        """The receiver address of test domain dK: 127.N.1.K"""
        return self.ip(1, k)

    def sink_addrs(self, d, port=SINK_PORT):
        """['127.N.1.1:12526', ...] for d1..dD."""
        return ["%s:%d" % (self.sink_ip(k), port) for k in range(1, d + 1)]

    def path(self, *parts):
        return os.path.join(self.dir, *parts)

    # ---- DNS records (lists of zone-file lines, absolute names)

    def mx_zone(self, domains):
        """dK.spate-test MX 10 mx.dK.spate-test, mx.dK A 127.N.1.K for K = 1..domains."""
        recs = []
        for k in range(1, domains + 1):
            recs.append("d%d.%s. IN MX 10 mx.d%d.%s." % (k, TLD, k, TLD))
            recs.append("mx.d%d.%s. IN A %s" % (k, TLD, self.sink_ip(k)))
        return recs

    def null_mx(self, label="nullmx"):
        """LABEL.spate-test with a null MX (RFC 7505)."""
        return ["%s.%s. IN MX 0 ." % (label, TLD)]

    def implicit_mx(self, label="nomx", ip=None):
        """LABEL.spate-test with no MX but an A record (implicit MX), default 127.N.1.1."""
        return ["%s.%s. IN A %s" % (label, TLD, ip or self.sink_ip(1))]

    def two_mx(self, label="twomx", primary=None, backup=None):
        """LABEL.spate-test: MX 10 mx1 (primary, default 127.N.2.1) and MX 20 mx2
        (backup, default 127.N.2.2)."""
        primary = primary or self.ip(2, 1)
        backup = backup or self.ip(2, 2)
        d = "%s.%s." % (label, TLD)
        return ["%s IN MX 10 mx1.%s" % (d, d), "%s IN MX 20 mx2.%s" % (d, d),
                "mx1.%s IN A %s" % (d, primary), "mx2.%s IN A %s" % (d, backup)]

    def cname_chain(self, label="cname", length=2, ip=None):
        """LABEL.spate-test CNAME c1.LABEL -> ... -> cLENGTH.LABEL, which has
        MX 10 mx.LABEL, mx.LABEL A ip (default 127.N.1.1)."""
        d = "%s.%s." % (label, TLD)
        names = [d] + ["c%d.%s" % (i, d) for i in range(1, length + 1)]
        recs = ["%s IN CNAME %s" % (names[i], names[i + 1]) for i in range(length)]
        recs.append("%s IN MX 10 mx.%s" % (names[-1], d))
        recs.append("mx.%s IN A %s" % (d, ip or self.sink_ip(1)))
        return recs

    # ---- nsd

    def _zone_text(self, records):
        head = ["$TTL 300",
                "%s. IN SOA ns.%s. hostmaster.%s. 1 3600 600 86400 60" % (TLD, TLD, TLD),
                "%s. IN NS ns.%s." % (TLD, TLD),
                "ns.%s. IN A %s" % (TLD, self.dns_ip)]
        return "\n".join(head + list(records)) + "\n"

    def start_dns(self, records=(), zones=None):
        """Start nsd on 127.N.0.53:15353 serving zone 'spate-test.' (SOA/NS added)
        with the given records (zone-file lines, e.g. from mx_zone()). zones maps
        further origins to zone-file text or to the path of a prepared zone file
        (e.g. a signed one). Restarts nsd if it runs already. Returns the Proc."""
        if self.dns:
            self.dns.stop()
            self.procs.remove(self.dns)
        zdir = self.path("dns")
        os.makedirs(zdir, exist_ok=True)
        all_zones = {TLD + ".": self._zone_text(records)}
        all_zones.update(zones or {})
        conf = ["server:", "  ip-address: %s@%d" % (self.dns_ip, DNS_PORT),
                "  port: %d" % DNS_PORT, '  username: ""', '  database: ""',
                '  zonesdir: "%s"' % zdir, '  pidfile: "%s/nsd.pid"' % zdir,
                '  xfrdfile: "%s/xfrd.state"' % zdir, '  zonelistfile: "%s/zone.list"' % zdir,
                '  logfile: "%s/nsd.log"' % zdir, "  verbosity: 0", "  do-ip6: no",
                "remote-control:", "  control-enable: no"]
        for origin, text in all_zones.items():
            origin = origin if origin.endswith(".") else origin + "."
            if os.path.isabs(text) and os.path.exists(text):
                zfile = text
            else:
                zname = (origin.rstrip(".") or "root") + ".zone"
                zfile = os.path.join(zdir, zname)
                with open(zfile, "w") as f:
                    f.write(text)
            conf += ["zone:", '  name: "%s"' % origin, '  zonefile: "%s"' % zfile]
        cpath = os.path.join(zdir, "nsd.conf")
        with open(cpath, "w") as f:
            f.write("\n".join(conf) + "\n")
        self.dns = self._start("nsd", ["nsd", "-d", "-c", cpath], Proc)

        def up():
            self.dns.check_alive()
            # nsd listens on TCP and UDP together; ask only once it is bound
            if not is_listening(self.dns_addr):
                return False
            return drill(self.dns_addr, TLD + ".", "SOA", timeout=1)[0] == "NOERROR"
        wait_for(up, 15, 0.1, what="nsd on %s (see %s/nsd.log)" % (self.dns_addr, zdir))
        return self.dns

    def drill(self, name, rtype="A"):
        """Query this test's nsd; returns (rcode, [(owner, type, rdata)])."""
        return drill(self.dns_addr, name, rtype)

    # ---- receivers

    def _start(self, name, argv, cls, env=None):
        p = cls(name, argv, self.dir, env)
        self.procs.append(p)
        return p

    def start_spate_sink(self, addrs, store=True, stats=True, extra_args=(), timeout=10):
        """Start perf/spate-sink listening on addrs ('ip:port' strings, or bare
        ips for port 12526). Returns a SpateSink with messages(), stats(),
        wait_messages(n), stop()."""
        if isinstance(addrs, str):
            addrs = [addrs]
        addrs = ["%s:%d" % (a, SINK_PORT) if split_addr(a)[1] is None else a for a in addrs]
        self._nsinks += 1
        name = "sink%d" % self._nsinks
        argv = [os.path.join(BUILD, "perf", "spate-sink")]
        for a in addrs:
            argv += ["-l", a]
        sdir = self.path(name) if store else None
        spath = self.path(name + ".stats.json") if stats else None
        if sdir:
            os.makedirs(sdir)
            argv += ["-d", sdir]
        if spath:
            argv += ["-s", spath]
        p = self._start(name, argv + list(extra_args), SpateSink)
        p.addrs, p.dir, p.stats_path = addrs, sdir, spath

        def up():
            p.check_alive()
            return all(is_listening(a) for a in addrs) and (not spath or p.stats())
        wait_for(up, timeout, what="%s listening on %s" % (name, " ".join(addrs)))
        return p

    def start_smtp_sink(self, addr, extra_args=(), timeout=10):
        """Start Postfix's smtp-sink on addr ('ip:port', or an ip for 12526)
        with -c (counters); returns an SmtpSink with count()."""
        if split_addr(addr)[1] is None:
            addr = "%s:%d" % (addr, SINK_PORT)
        argv = [SMTP_SINK]
        if os.geteuid() == 0:
            argv += ["-u", "nobody"]
        argv += ["-c"] + list(extra_args) + [addr, "1024"]
        p = self._start("smtp-sink-" + addr.replace(":", "_"), argv, SmtpSink)
        p.addrs = [addr]

        def up():
            p.check_alive()
            return is_listening(addr)
        wait_for(up, timeout, what="smtp-sink on %s" % addr)
        return p

    # ---- spated

    def write_config(self, extra_main="", routers=None, transports=None,
                     retry="* * F,1h,1s", name="spated.conf"):
        """Write a spated configuration for this network and return its path.
        routers / transports replace the body of those sections when given."""
        os.makedirs(self.spool_dir, exist_ok=True)
        if routers is None:
            routers = "dnslookup:\n  driver = dnslookup\n  transport = remote_smtp\n"
        if transports is None:
            transports = "remote_smtp:\n  driver = smtp\n  port = %d\n" % SINK_PORT
        text = "\n".join([
            "primary_hostname = spate.%s" % TLD,
            "spool_directory = %s" % self.spool_dir,
            "log_file_path = %s" % self.log_path,
            "smtp_listen = %s" % self.smtp_addr,
            "http_listen = %s:%d" % (self.spated_ip, HTTP_PORT),
            "worker_threads = 2",
            "relay_from_hosts = 127.0.0.0/8",
            "dns_servers = %s" % self.dns_addr,
            extra_main,
            "",
            "begin routers",
            routers,
            "begin transports",
            transports,
            "begin retry",
            retry,
            ""])
        path = self.path(name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def start_spated(self, config, extra_args=(), timeout=20, smtp_addr=None, http_url=None):
        """Run $SPATE_BUILD/spated -c CONFIG in the foreground; wait until its SMTP
        port listens and GET /metrics answers. Returns a Spated handle with
        stop() (SIGTERM, wait, exit status), kill9(), pid, main_log()."""
        binary = os.path.join(BUILD, "spated")
        if not os.access(binary, os.X_OK):
            raise AssertionError("no spated at %s (set SPATE_BUILD)" % binary)
        p = self._start("spated", [binary, "-c", config] + list(extra_args), Spated)
        p.config = config
        p.smtp_addr = smtp_addr or self.smtp_addr
        p.http_url = http_url or self.http_url
        p.log_path = self.log_path
        self.spated = p

        def up():
            p.check_alive()
            if not is_listening(p.smtp_addr):
                return False
            try:
                return _http(p.http_url + "/metrics", timeout=2)[0] == 200
            except OSError:
                return False
        wait_for(up, timeout, 0.1, what="spated on %s and %s" % (p.smtp_addr, p.http_url))
        return p

    def main_log(self):
        """Lines of spated's main log file."""
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace").splitlines()
        except OSError:
            return []

    def log_grep(self, pattern):
        """Main log lines matching a regular expression."""
        rx = re.compile(pattern)
        return [l for l in self.main_log() if rx.search(l)]

    # ---- clean-up

    def stop_all(self):
        """Stop every process this Env started, newest first."""
        for p in reversed(self.procs):
            try:
                p.stop(timeout=10)
            except Exception:
                p.kill9()

    def bad_exits(self):
        """'name: status' for own programs that did not exit 0 (not kill9'd)."""
        return ["%s: exit status %s\n%s" % (p.name, p.popen.returncode, _tail(p.stderr_path, 20))
                for p in self.procs
                if p.check_exit and not p.killed and p.popen.returncode not in (None, 0)]

    def close(self, failed=False):
        """Stop the processes; remove the directory, or keep it on failure."""
        if self.closed:
            return
        self.closed = True
        self.failed = self.failed or failed
        self.stop_all()
        bad = self.bad_exits()
        self.failed = self.failed or bool(bad)
        self._claim.close()
        if self in _open_envs:
            _open_envs.remove(self)
        if self.failed:
            sys.stdout.write("[%s] test directory kept: %s\n" % (self.name, self.dir))
            for p in self.procs:
                if p.name == "spated":
                    sys.stdout.write("--- spated stderr (tail)\n%s\n" % _tail(p.stderr_path))
            if os.path.exists(self.log_path):
                sys.stdout.write("--- main log (tail)\n%s\n" % _tail(self.log_path))
            sys.stdout.flush()
        else:
            shutil.rmtree(self.dir, ignore_errors=True)
        if bad and not failed:
            raise AssertionError("process ended badly: " + "\n".join(bad))


@atexit.register
def _close_all():
    for env in list(_open_envs):
        env.close(failed=True)  # never closed by its test: keep it to look at


# --------------------------------------------------------------------------
# runner


def main(namespace):
    """Run the test_* functions of a test module in definition order (or those
    named on the command line), print 'N passed, M failed' and exit non-zero
    on failure."""
    tests = [(n, f) for n, f in namespace.items() if n.startswith("test_") and callable(f)]
    wanted = sys.argv[1:]
    if wanted:
        tests = [(n, f) for n, f in tests if n in wanted]
    passed = failed = skipped = 0
    for name, fn in tests:
        t0 = time.monotonic()
        try:
            fn()
        except Skip as e:
            skipped += 1
            print("SKIP %s: %s" % (name, e), flush=True)
        except Exception:
            failed += 1
            print("FAIL %s (%.2fs)" % (name, time.monotonic() - t0), flush=True)
            traceback.print_exc(file=sys.stdout)
            for env in list(_open_envs):
                env.close(failed=True)
        else:
            passed += 1
            print("PASS %s (%.2fs)" % (name, time.monotonic() - t0), flush=True)
    summary = "%d passed, %d failed" % (passed, failed)
    if skipped:
        summary += ", %d skipped" % skipped
    print(summary, flush=True)
    sys.exit(1 if failed or not tests else 0)

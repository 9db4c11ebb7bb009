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
"""

import atexit
import ctypes
import glob
import hashlib
import json
import os
import re
import shutil
import signal
import smtplib
import socket
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.error
import urllib.request

TLD = "spate-test"
DNS_PORT = 15353
SINK_PORT = 12526
SMTP_PORT = 2525
HTTP_PORT = 8025
SMTP_SINK = "/usr/sbin/smtp-sink"
SWAKS = "/usr/bin/swaks"

_HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.environ.get("SPATE_SRC") or os.path.dirname(os.path.dirname(_HERE))
BUILD = os.environ.get("SPATE_BUILD") or os.path.join(SRC, "build")
CORPUS = os.path.join(SRC, "tests", "data", "corpus")

_open_envs = []


class Skip(Exception):
    """Raise from a test to report it as skipped (with the reason)."""


# --------------------------------------------------------------------------
# small utilities


def wait_for(pred, timeout, interval=0.05, what="condition"):
    """Poll pred() until it returns something true (returned) or raise
    AssertionError naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError("timed out after %.1fs waiting for %s" % (timeout, what))
        time.sleep(interval)


def split_addr(addr, default_port=None):
    """'1.2.3.4:25' / '[::1]:25' / '1.2.3.4' -> (host, port)."""
    m = re.fullmatch(r"\[([^\]]+)\](?::(\d+))?", addr)
    if m:
        return m.group(1), int(m.group(2)) if m.group(2) else default_port
    if addr.count(":") == 1:
        host, port = addr.split(":")
        return host, int(port)
    return addr, default_port


def _listening_sockets():
    """Set of (ip, port) in LISTEN state, read from /proc/net/tcp{,6}."""
    found = set()
    for path, fam in (("/proc/net/tcp", socket.AF_INET), ("/proc/net/tcp6", socket.AF_INET6)):
        try:
            with open(path) as f:
                lines = f.readlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) < 4 or fields[3] != "0A":
                continue
            hexip, hexport = fields[1].split(":")
            raw = bytes.fromhex(hexip)
            # /proc prints the address as host-order 32-bit words
            raw = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
            found.add((socket.inet_ntop(fam, raw), int(hexport, 16)))
    return found


def is_listening(addr):
    """True if something listens on addr ('ip:port'), without connecting to it."""
    host, port = split_addr(addr)
    socks = _listening_sockets()
    return (host, port) in socks or ("0.0.0.0", port) in socks or ("::", port) in socks


def _pdeathsig():
    """preexec_fn: have the kernel kill the child if this process dies."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:
        pass


def _tail(path, n=30):
    try:
        with open(path, "rb") as f:
            lines = f.read().decode("utf-8", "replace").splitlines()
        return "\n".join(lines[-n:])
    except OSError:
        return "(no %s)" % path


# --------------------------------------------------------------------------
# messages


def canonical(data):
    """The message as spate must deliver it: LF and bare CR become CRLF and a
    final CRLF is added when missing."""
    data = re.sub(rb"\r\n|\r|\n", b"\r\n", data)
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    return data


def corpus_messages(pattern="msg_*.txt"):
    """Yield (name, bytes) for tests/data/corpus/mime/msg_*.txt in name order."""
    for path in sorted(glob.glob(os.path.join(CORPUS, "mime", pattern))):
        with open(path, "rb") as f:
            yield os.path.basename(path), f.read()


def bounce_messages(folder="*"):
    """Yield (name, bytes) for tests/data/corpus/bounces/maildir/FOLDER/*.eml,
    name being 'folder/file.eml'."""
    for path in sorted(glob.glob(os.path.join(CORPUS, "bounces", "maildir", folder, "*.eml"))):
        with open(path, "rb") as f:
            yield os.path.relpath(path, os.path.join(CORPUS, "bounces", "maildir")), f.read()


def strip_trace_headers(data, names=(b"received",)):
    """Drop the leading header fields named in `names` (lower case) that a
    relay prepends (with their folded continuation lines); the rest is kept."""
    lines = data.split(b"\r\n")
    i = 0
    while i < len(lines):
        name = lines[i].split(b":", 1)[0].strip().lower()
        if b":" not in lines[i] or name not in names:
            break
        i += 1
        while i < len(lines) and lines[i][:1] in (b" ", b"\t"):
            i += 1
    return b"\r\n".join(lines[i:])


# --------------------------------------------------------------------------
# clients


def _smtp_transaction(s, sender, rcpts, data_bytes):
    s.ehlo_or_helo_if_needed()
    code, text = s.mail(sender)
    if code != 250:
        s.rset()
        return code, text.decode("utf-8", "replace")
    last = None
    accepted = 0
    for r in rcpts:
        last = s.rcpt(r)
        accepted += last[0] in (250, 251)
    if not accepted:
        s.rset()
        return last[0], last[1].decode("utf-8", "replace")
    try:
        code, text = s.data(canonical(data_bytes))
    except smtplib.SMTPDataError as e:
        code, text = e.smtp_code, e.smtp_error
    return code, text.decode("utf-8", "replace") if isinstance(text, bytes) else text


def smtp_send(host, port, sender, rcpts, data_bytes, timeout=30, source=None):
    """Send one message with smtplib (data normalised to CRLF) and return
    (code, text) of the final reply: the DATA reply, or the failing MAIL/RCPT
    reply when nothing got that far. Connection errors raise."""
    return smtp_send_many(host, port, [(sender, rcpts, data_bytes)], timeout, source)[0]


def smtp_send_many(host, port, messages, timeout=30, source=None):
    """Send several (sender, rcpts, data_bytes) on one connection; returns the
    list of (code, text) final replies."""
    src = (source, 0) if source else None
    s = smtplib.SMTP(host, port, timeout=timeout, source_address=src)
    try:
        return [_smtp_transaction(s, *m) for m in messages]
    finally:
        try:
            s.quit()
        except (smtplib.SMTPException, OSError):
            s.close()


def swaks(args, timeout=60):
    """Run swaks with the argument list; returns (rc, stdout+stderr text)."""
    p = subprocess.run([SWAKS] + list(args), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=timeout)
    return p.returncode, p.stdout.decode("utf-8", "replace")


def _http(url, data=None, method=None, timeout=30):
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def _parse_body(body):
    text = body.decode("utf-8", "replace")
    try:
        return json.loads(text)
    except ValueError:
        return text


def http_inject(url, obj, timeout=30):
    """POST obj as JSON; url is the full endpoint, or a base 'http://h:p'
    to which /api/v1/inject is added. Returns (status, parsed JSON or text);
    4xx/5xx do not raise."""
    if "/api/" not in url:
        url = url.rstrip("/") + "/api/v1/inject"
    body = obj if isinstance(obj, (bytes, bytearray)) else json.dumps(obj).encode()
    status, data = _http(url, body, "POST", timeout)
    return status, _parse_body(data)


def http_get(url, timeout=30):
    """GET url; returns (status, parsed JSON or text)."""
    status, data = _http(url, timeout=timeout)
    return status, _parse_body(data)


def metrics(url, timeout=10):
    """GET /metrics (url is a base 'http://h:p' or the full URL) and parse the
    Prometheus text format into {name_with_labels: float}, keys as written,
    e.g. 'spate_delivered_total' or 'spate_queue_depth{destination="x"}'."""
    if not url.rstrip("/").endswith("/metrics"):
        url = url.rstrip("/") + "/metrics"
    status, data = _http(url, timeout=timeout)
    if status != 200:
        raise AssertionError("GET %s answered %d" % (url, status))
    out = {}
    for line in data.decode("utf-8", "replace").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        m = re.match(r"^(\S+?(?:\{.*\})?)\s+(\S+)(?:\s+\d+)?$", line)
        if m:
            try:
                out[m.group(1)] = float(m.group(2))
            except ValueError:
                pass
    return out


def drill(server, name, rtype="A", timeout=10):
    """Ask a DNS server ('ip:port') with drill; returns (rcode, [answer RRs as
    (owner, type, rdata string)]); rcode is "TIMEOUT" when no answer came."""
    host, port = split_addr(server, 53)
    try:
        p = subprocess.run(["drill", "-p", str(port), "@" + host, name, rtype],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout)
    except subprocess.TimeoutExpired:
        return "TIMEOUT", []
    text = p.stdout.decode("utf-8", "replace")
    m = re.search(r"rcode: (\w+)", text)
    rcode = m.group(1) if m else "ERROR"
    answers, section = [], None
    for line in text.splitlines():
        if line.startswith(";; ANSWER SECTION"):
            section = "answer"
        elif line.startswith(";;"):
            section = None
        elif section == "answer" and line.strip():
            f = line.split(None, 4)
            if len(f) == 5:
                answers.append((f[0].lower(), f[3], f[4].strip()))
    return rcode, answers


# --------------------------------------------------------------------------
# process handles


class Proc:
    """A process started by an Env (stdout/stderr to files in its directory).
    For the project's own programs (check_exit) an exit status other than 0
    when the Env closes (a crash, a sanitizer report, no exit on SIGTERM)
    fails the test, unless the test killed it with kill9()."""

    check_exit = False

    def __init__(self, name, argv, workdir, env=None):
        self.name = name
        self.argv = argv
        self.stdout_path = os.path.join(workdir, name + ".stdout")
        self.stderr_path = os.path.join(workdir, name + ".stderr")
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            self.popen = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out,
                                          stderr=err, cwd=workdir, env=env,
                                          preexec_fn=_pdeathsig)
        self.pid = self.popen.pid
        self.killed = False

    def alive(self):
        return self.popen.poll() is None

    def stop(self, timeout=10):
        """SIGTERM, wait up to timeout, then SIGKILL; returns the exit status."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(10)
        return self.popen.returncode

    def kill9(self):
        """SIGKILL and reap; returns the exit status (-9)."""
        self.killed = True
        if self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait(10)
        return self.popen.returncode

    def stderr_text(self):
        with open(self.stderr_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def stdout_text(self):
        with open(self.stdout_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def check_alive(self):
        if not self.alive():
            raise AssertionError("%s exited with status %s:\n%s" % (
                self.name, self.popen.returncode, _tail(self.stderr_path)))


class SpateSink(Proc):
    """A running spate-sink: .addrs, .dir (store or None), .stats_path."""

    check_exit = True

    def messages(self):
        """[(envelope dict, message bytes)] in arrival (sequence) order."""
        if not self.dir:
            return []
        out = []
        for path in sorted(glob.glob(os.path.join(self.dir, "[0-9]*.eml"))):
            with open(path[:-4] + ".env", "rb") as f:
                envelope = json.loads(f.read().decode("utf-8", "replace"))
            with open(path, "rb") as f:
                out.append((envelope, f.read()))
        return out

    def count(self):
        """Number of stored messages."""
        return len(glob.glob(os.path.join(self.dir, "[0-9]*.eml"))) if self.dir else 0

    def wait_messages(self, n, timeout=20):
        """Wait until at least n messages are stored; returns messages()."""
        wait_for(lambda: self.count() >= n, timeout, what="%d messages in %s" % (n, self.name))
        return self.messages()

    def stats(self):
        """The stats JSON as a dict ({} before the first write)."""
        try:
            with open(self.stats_path) as f:
                return json.load(f)
        except (OSError, ValueError, TypeError):
            return {}


class SmtpSink(Proc):
    """A running Postfix smtp-sink (counts with -c, discards mail)."""

    def count(self):
        """Messages received so far (the last mesg= counter printed)."""
        found = re.findall(r"mesg=(\d+)", self.stdout_text())
        return int(found[-1]) if found else 0


class Spated(Proc):
    """A running spated: .config, .smtp_addr, .http_url, .log_path."""

    check_exit = True

    def main_log(self):
        """Lines of the main log file (log_file_path)."""
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace").splitlines()
        except OSError:
            return []


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


class Env:
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

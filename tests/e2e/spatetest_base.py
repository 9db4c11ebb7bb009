"""spatetest_base - the utilities, clients and process handles of spatetest.

Constants of the test network, Skip, wait_for(), address and /proc helpers,
the message corpus, the SMTP, HTTP and DNS clients and the Proc handles
(SpateSink, SmtpSink, Spated). Tests reach all of it through spatetest,
which imports every name defined here.
"""

import ctypes
import glob
import json
import os
import re
import signal
import smtplib
import socket
import subprocess
import time
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

"""spatetest_smtp - a raw SMTP client for the tests of spate's SMTP server:
whole-reply reads that check every line ends in CRLF, plus small helpers
shared by the SMTP server's test files."""

import re
import socket

import spatetest
from spatetest import Env


class Client:
    """A raw SMTP client: whole-reply reads, checks that lines end in CRLF."""

    def __init__(self, addr, source=None, timeout=10):
        host, port = spatetest.split_addr(addr)
        src = (source, 0) if source else None
        self.sock = socket.create_connection((host, port), timeout=timeout, source_address=src)
        self.f = self.sock.makefile("rb")

    def reply(self):
        """(code, [lines without CRLF]) of the next complete reply."""
        lines = []
        for _ in range(100):
            raw = self.f.readline()
            if not raw:
                raise AssertionError("connection closed after %r" % lines)
            assert raw.endswith(b"\r\n"), "reply line without CRLF: %r" % raw
            line = raw[:-2].decode("utf-8", "replace")
            assert re.match(r"^\d{3}[ -]", line) or re.fullmatch(r"\d{3}", line), line
            lines.append(line)
            if len(line) == 3 or line[3] == " ":
                break
        codes = {l[:3] for l in lines}
        assert len(codes) == 1, "mixed codes in one reply: %r" % lines
        return int(lines[0][:3]), lines

    def replies(self, n):
        return [self.reply() for _ in range(n)]

    def send(self, data):
        self.sock.sendall(data if isinstance(data, bytes) else data.encode())

    def cmd(self, line):
        self.send(line + "\r\n")
        return self.reply()

    def expect(self, line, code, text=None):
        """Send a command and assert its reply code (and a regex on its text)."""
        got, lines = self.cmd(line)
        assert got == code, "%s -> %r, expected %d" % (line[:60], lines, code)
        if text is not None:
            assert re.search(text, lines[-1]), "%s -> %r, expected /%s/" % (line[:60], lines, text)
        return lines

    def at_eof(self, timeout=10):
        """True once the server has closed the connection (read returns EOF)."""
        self.sock.settimeout(timeout)
        return self.f.read() == b""

    def close(self):
        self.f.close()
        self.sock.close()


def greeted(addr, helo="client.example", source=None):
    """A client past the greeting and EHLO."""
    c = Client(addr, source)
    code, lines = c.reply()
    assert code == 220, lines
    c.expect("EHLO " + helo, 250)
    return c


def vm_rss_kb(pid):
    """The resident set size of a process, in kB."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS for %d" % pid)


def start(name, *overrides, domains=2):
    """An Env with nsd (d1..dN), a storing sink and spated; returns (env, sink, spated)."""
    env = Env(name)
    try:
        env.start_dns(env.mx_zone(domains) + env.null_mx())
        sink = env.start_spate_sink(env.sink_addrs(domains))
        args = []
        for o in overrides:
            args += ["-o", o]
        spated = env.start_spated(env.write_config(), extra_args=args)
    except BaseException:
        env.close(failed=True)
        raise
    return env, sink, spated

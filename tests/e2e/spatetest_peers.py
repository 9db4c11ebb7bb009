"""spatetest_peers - real MTAs as SMTP clients and servers of spated, for the
interop tests.

start_postfix_relay() runs a private Postfix (its own config, queue and data
directories, its own maillog_file) that takes mail on its smtpd and relays
everything to one relayhost over STARTTLS (smtp_tls_security_level =
encrypt). EximClient runs a private Exim 4 (Debian's exim4-daemon-light,
unpacked by scripts/setup-deps.sh, never installed: it conflicts with
postfix) with its own -C configuration, spool and log, delivering each
message in the foreground (-odi) to one host over STARTTLS
(hosts_require_tls = *). start_exim_server() runs the same Exim as a
daemon (exim -bdf) on a loopback address, taking mail for some domains into
one mbox, with the main options and ACLs a test gives (PRDR, for one).

All need root (Postfix's master and Exim's delivery change user) and raise
spatetest.Skip, with the reason, when a peer cannot be had.
"""

import os
import re
import shutil
import smtplib
import subprocess

import spatetest
from spatetest import SRC, Skip, wait_for, split_addr, is_listening, _tail
from spatetest_tls import POSTFIX, POSTFIX_MASTER, POSTFIX_MASTER_CF, PostfixReceiver

TLD = spatetest.TLD

# where scripts/setup-deps.sh unpacks Exim (SPATE_PEERS_DIR overrides the base)
PEERS_DIR = os.environ.get("SPATE_PEERS_DIR") or "/var/cache/spate-peers"
EXIM_ROOT = os.path.join(PEERS_DIR, "exim", "root")
EXIM_BIN = os.path.join(EXIM_ROOT, "usr", "sbin", "exim4")
EXIM_USER = "Debian-exim"

# the Postfix services of a relay: a receiver's, plus the SMTP client
POSTFIX_RELAY_MASTER_CF = POSTFIX_MASTER_CF + """\
smtp unix - - n - - smtp
relay unix - - n - - smtp
"""


def _public_copy(src, folder):
    """Copy src into folder, readable by the peers' unprivileged users."""
    dst = os.path.join(folder, os.path.basename(src))
    shutil.copyfile(src, dst)
    os.chmod(dst, 0o644)
    return dst


def _peer_dir(env, name, owner=None):
    """DIR/NAME, reachable by the peers' service users (they run as postfix,
    nobody or Debian-exim)."""
    os.chmod(env.dir, 0o711)
    d = env.path(name)
    os.makedirs(d)
    os.chmod(d, 0o755)
    if owner:
        shutil.chown(d, owner, owner)
    return d


# --------------------------------------------------------------------------
# Postfix


class PostfixRelay(PostfixReceiver):
    """A private Postfix relaying to one relayhost (start_postfix_relay()):
    .addr (its smtpd), .dir, .maillog, log(), log_grep(rx), send(...)."""

    def send(self, sender, rcpts, data, mail_options=()):
        """Submit one message to this Postfix's smtpd with smtplib (data as
        given: bytes, CRLF line ends); returns smtplib's refused dict."""
        host, port = split_addr(self.addr)
        with smtplib.SMTP(host, port, timeout=30) as s:
            return s.sendmail(sender, rcpts, data, mail_options=list(mail_options))

    def wait_log(self, pattern, n=1, timeout=30):
        """Wait for n maillog lines matching pattern; returns them."""
        return wait_for(lambda: len(self.log_grep(pattern)) >= n and self.log_grep(pattern),
                        timeout, 0.2, what="%d lines /%s/ in %s:\n%s"
                        % (n, pattern, self.maillog, _tail(self.maillog, 15)))


def _postfix_relay_settings(pdir, addr, relayhost, ca):
    conf, queue, data = (os.path.join(pdir, x) for x in ("conf", "queue", "data"))
    return [
        "compatibility_level = 3.6", "queue_directory = " + queue,
        "data_directory = " + data, "mail_owner = postfix", "setgid_group = postdrop",
        "syslog_name = postfix-relay-" + re.sub(r"[^A-Za-z0-9]", "-", addr),
        "maillog_file = " + os.path.join(pdir, "maillog"), "maillog_file_prefixes = " + pdir,
        "myhostname = postfix.%s" % TLD, "mydomain = " + TLD, "mydestination =",
        "inet_interfaces = loopback-only", "inet_protocols = ipv4",
        "mynetworks = 127.0.0.0/8", "relay_domains =", "local_header_rewrite_clients =",
        "local_transport = error:local delivery is disabled", "alias_maps =",
        "alias_database =", "biff = no", "relayhost = [%s]:%d" % split_addr(relayhost),
        "smtpd_relay_restrictions = permit_mynetworks, reject",
        "smtp_tls_security_level = encrypt", "smtp_tls_CAfile = " + ca,
        "smtp_tls_loglevel = 1", "smtputf8_enable = yes",
        "smtp_address_preference = ipv4", "queue_run_delay = 1s",
        "minimal_backoff_time = 1s", "maximal_backoff_time = 2s",
    ]


def start_postfix_relay(env, addr, relayhost, ca, extra_main=(), timeout=30):
    """Start a private Postfix under DIR/postfix-relay whose smtpd listens on
    addr ('ip:port') for clients in 127.0.0.0/8 and whose smtp client relays
    all mail to relayhost ('ip:port') with STARTTLS required, verifying the
    server's chain against ca (PEM) so that the log says "Trusted TLS
    connection established". smtputf8_enable = yes. Root only (raises Skip
    otherwise). Returns a PostfixRelay, stopped with the Env."""
    if os.geteuid() != 0 or not os.access(POSTFIX_MASTER, os.X_OK):
        raise Skip("a Postfix relay needs root and postfix installed")
    pdir = _peer_dir(env, "postfix-relay")
    for d in ("conf", "queue", "data"):
        os.makedirs(os.path.join(pdir, d))
    shutil.chown(os.path.join(pdir, "data"), "postfix")
    ca = _public_copy(ca, pdir)
    conf = os.path.join(pdir, "conf")
    with open(os.path.join(conf, "main.cf"), "w") as f:
        f.write("\n".join(_postfix_relay_settings(pdir, addr, relayhost, ca)
                          + list(extra_main)) + "\n")
    with open(os.path.join(conf, "master.cf"), "w") as f:
        f.write(POSTFIX_RELAY_MASTER_CF.format(addr=addr))
    p = subprocess.run([POSTFIX, "-c", conf, "check"], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=60)
    if p.returncode != 0:
        raise AssertionError("postfix check failed (%s):\n%s" % (
            p.stdout.decode("utf-8", "replace"), _tail(os.path.join(pdir, "maillog"))))
    h = env._start("postfix-relay", [POSTFIX_MASTER, "-c", conf, "-d"], PostfixRelay)
    h.addr, h.dir, h.maillog = addr, pdir, os.path.join(pdir, "maillog")

    def up():
        if not h.alive():
            raise AssertionError("postfix master exited: %s\n%s" % (
                h.stderr_text(), _tail(h.maillog)))
        return is_listening(addr)
    wait_for(up, timeout, 0.1, what="postfix smtpd on %s" % addr)
    return h


# --------------------------------------------------------------------------
# Exim


def _exim_works():
    if not os.access(EXIM_BIN, os.X_OK):
        return False
    p = subprocess.run([EXIM_BIN, "-C", "/dev/null", "-bV"],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30)
    return p.returncode == 0 and b"Exim version" in p.stdout


def exim_binary():
    """The private Exim's path. When it is missing (or cannot run) and this
    process is root, fetch it with scripts/setup-deps.sh --exim-only (apt-get
    download, dpkg-deb -x, the Debian-exim user); raise Skip when that fails."""
    if _exim_works():
        return EXIM_BIN
    if os.geteuid() != 0:
        raise Skip("no Exim in %s and not root to fetch it (run scripts/setup-deps.sh)"
                   % EXIM_ROOT)
    p = subprocess.run(["bash", os.path.join(SRC, "scripts", "setup-deps.sh"), "--exim-only"],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=300)
    if p.returncode != 0 or not _exim_works():
        raise Skip("Exim could not be fetched (scripts/setup-deps.sh --exim-only):\n%s"
                   % p.stdout.decode("utf-8", "replace")[-2000:])
    return EXIM_BIN


EXIM_CONF = """\
primary_hostname = exim.{tld}
spool_directory = {dir}/spool
log_file_path = {dir}/log/%slog
exim_user = {user}
exim_group = {user}
trusted_users = root
exim_path = {bin}
# deliver in the receiving process as exim_user: a re-exec with -C would lose privilege
deliver_drop_privilege = true
keep_environment =
tls_advertise_hosts =
log_selector = +tls_certificate_verified +smtp_confirmation +received_recipients +outgoing_port
begin routers
to_spate:
  driver = manualroute
  route_list = * {host}
  self = send
  transport = to_spate
begin transports
to_spate:
  driver = smtp
  port = {port}
  allow_localhost
  hosts_require_tls = *
  tls_verify_certificates = {ca}
  tls_verify_hosts = *
  tls_verify_cert_hostnames = :
  hosts_try_chunking = {chunking}
begin retry
* * F,1h,10m
"""


class EximClient:
    """A private Exim (under DIR/exim) delivering everything to one host over
    STARTTLS: hosts_require_tls = *, the server's chain verified against a CA
    (no name check: the host is an IP address). Two configurations share the
    spool and log: one lets Exim use BDAT when the server offers CHUNKING
    (hosts_try_chunking = *), the other keeps DATA (hosts_try_chunking empty)."""

    def __init__(self, env, server, ca):
        self.bin = exim_binary()
        self.dir = _peer_dir(env, "exim", EXIM_USER)
        for d in ("spool", "log"):
            os.makedirs(os.path.join(self.dir, d))
            shutil.chown(os.path.join(self.dir, d), EXIM_USER, EXIM_USER)
        ca = _public_copy(ca, self.dir)
        host, port = split_addr(server)
        self.mainlog = os.path.join(self.dir, "log", "mainlog")
        self.configs = {}
        for chunking, hosts in ((True, "*"), (False, ":")):
            path = os.path.join(self.dir, "exim-%s.conf" % ("bdat" if chunking else "data"))
            with open(path, "w") as f:
                f.write(EXIM_CONF.format(bin=self.bin, tld=TLD, dir=self.dir, user=EXIM_USER,
                                         host=host, port=port, ca=ca, chunking=hosts))
            self.configs[chunking] = path

    def send(self, sender, rcpts, data, chunking=True, timeout=60):
        """Submit one message (exim -odi -oi -f SENDER -- RCPTS, the message on
        standard input) and deliver it in the foreground. Returns (exit
        status, output text)."""
        argv = [self.bin, "-C", self.configs[chunking], "-odi", "-oi", "-f", sender, "--"]
        p = subprocess.run(argv + list(rcpts), input=data, cwd=self.dir,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout)
        return p.returncode, p.stdout.decode("utf-8", "replace")

    def log(self):
        """Exim's main log as text."""
        try:
            with open(self.mainlog, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def log_grep(self, pattern):
        rx = re.compile(pattern)
        return [line for line in self.log().splitlines() if rx.search(line)]

    def paniclog(self):
        return _tail(os.path.join(self.dir, "log", "paniclog"), 20)


# --------------------------------------------------------------------------
# Exim as a server


EXIM_SERVER_CONF = """\
primary_hostname = exim-server.{tld}
spool_directory = {dir}/spool
log_file_path = {dir}/log/%slog
pid_file_path = {dir}/exim.pid
exim_user = {user}
exim_group = {user}
trusted_users = root
exim_path = {bin}
# the daemon's receiving process delivers itself, as exim_user (no re-exec with -C)
deliver_drop_privilege = true
keep_environment =
tls_advertise_hosts =
host_lookup =
rfc1413_hosts =
local_interfaces = <; {ip}.{port}
domainlist local_domains = {domains}
acl_smtp_rcpt = rcpt
log_selector = +received_recipients +smtp_confirmation
{main}
begin acl
rcpt:
  accept domains = +local_domains
  deny message = relay not permitted
{acls}
begin routers
local:
  driver = accept
  domains = +local_domains
  transport = inbox
begin transports
# every recipient its own copy (batch_max 1), its address in Envelope-to:
inbox:
  driver = appendfile
  file = {dir}/mail/inbox
  user = {user}
  group = {user}
  mode = 0640
  envelope_to_add
begin retry
* * F,1h,10m
"""


class EximServer(PostfixReceiver):
    """A private Exim daemon (start_exim_server(); its own process group, like
    PostfixReceiver): .addr, .dir, .mainlog, log(), log_grep(rx),
    wait_log(rx, n), paniclog(), inbox()."""

    log = EximClient.log
    log_grep = EximClient.log_grep
    paniclog = EximClient.paniclog

    def wait_log(self, pattern, n=1, timeout=30):
        """Wait for n main log lines matching pattern; returns them."""
        return wait_for(lambda: len(self.log_grep(pattern)) >= n and self.log_grep(pattern),
                        timeout, 0.2, what="%d lines /%s/ in %s:\n%s"
                        % (n, pattern, self.mainlog, _tail(self.mainlog, 15)))

    def inbox(self):
        """The delivered copies, oldest first: [(Envelope-to address, message
        bytes as stored, LF line ends, the mbox "From " line removed)]."""
        try:
            with open(os.path.join(self.dir, "mail", "inbox"), "rb") as f:
                text = f.read()
        except OSError:
            return []
        out = []
        for part in re.split(rb"(?m)^From \S+ .*\n", text)[1:]:
            to = re.search(rb"(?mi)^Envelope-to: (\S+)$", part)
            out.append((to.group(1).decode() if to else None, part))
        return out


def start_exim_server(env, addr, domains, acls="", main="", timeout=30):
    """Start a private Exim daemon (exim -C CONF -bdf) under DIR/exim-server,
    listening on addr ('ip:port') without TLS and taking mail from anyone for
    domains (a list of names), delivered into one mbox (inbox()). acls is the
    text of more ACLs after the RCPT one ("rcpt": accepts the local domains);
    main, more main options (prdr_enable, acl_smtp_data_prdr, ...). Root only
    (raises Skip otherwise, or when Exim cannot be had). Returns an
    EximServer, stopped with the Env."""
    if os.geteuid() != 0:
        raise Skip("an Exim daemon needs root (it changes user to %s)" % EXIM_USER)
    binary = exim_binary()
    edir = _peer_dir(env, "exim-server", EXIM_USER)
    for d in ("spool", "log", "mail"):
        os.makedirs(os.path.join(edir, d))
        shutil.chown(os.path.join(edir, d), EXIM_USER, EXIM_USER)
    ip, port = split_addr(addr)
    conf = os.path.join(edir, "exim.conf")
    with open(conf, "w") as f:
        f.write(EXIM_SERVER_CONF.format(tld=TLD, dir=edir, user=EXIM_USER, bin=binary, ip=ip,
                                        port=port, domains=" : ".join(domains), main=main,
                                        acls=acls))
    h = env._start("exim-server", [binary, "-C", conf, "-bdf"], EximServer)
    h.addr, h.dir, h.mainlog = addr, edir, os.path.join(edir, "log", "mainlog")

    def up():
        if not h.alive():
            raise AssertionError("exim -bdf exited: %s\n%s" % (h.stderr_text(), h.paniclog()))
        return is_listening(addr)
    wait_for(up, timeout, 0.1, what="exim daemon on %s" % addr)
    return h

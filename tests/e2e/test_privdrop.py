"""test_privdrop - spated started as root binds a privileged port, opens its
spool as spate_user, then runs as spate_user / spate_group in every thread
(read from /proc), still delivers, and refuses a spool the account does not
own. Also: a bad user or group name is a configuration error, and systemd's
readiness protocol ($NOTIFY_SOCKET) sees READY=1, RELOADING=1 and STOPPING=1.
The root-only cases skip when not run as root."""

import os
import pwd
import signal
import socket
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import spatetest  # noqa: E402
from spatetest import BUILD, Env, Skip, wait_for  # noqa: E402

TLD = spatetest.TLD
USER = "spate-test"  # a system account the test creates when it is missing
SPATED = os.path.join(BUILD, "spated")


def _account():
    """(name, uid, gid) of the test account, created if missing (root only)."""
    if os.geteuid() != 0:
        raise Skip("needs root: spated must start as root to drop privileges")
    try:
        pw = pwd.getpwnam(USER)
    except KeyError:
        rc = subprocess.run(["useradd", "--system", "--user-group", "--no-create-home",
                             "--shell", "/usr/sbin/nologin", USER]).returncode
        if rc != 0:
            raise Skip("cannot create the system user %s (useradd exit %d)" % (USER, rc))
        pw = pwd.getpwnam(USER)
    return pw.pw_name, pw.pw_uid, pw.pw_gid


def _ids(status_path):
    """{'Uid': [...], 'Gid': [...], 'Groups': [...]} from a /proc status file."""
    out = {}
    with open(status_path) as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("Uid", "Gid", "Groups", "CapEff", "CapPrm"):
                out[key] = value.split()
    return out


def _chown_tree(path, uid, gid):
    os.chown(path, uid, gid)
    for root, dirs, files in os.walk(path):
        for n in dirs + files:
            os.chown(os.path.join(root, n), uid, gid)


def _root_env(name, port=25):
    """An Env whose spated listens on 127.N.0.1:port, its folder open to others
    (the account must reach the spool inside it)."""
    env = Env(name)
    os.chmod(env.dir, 0o755)
    env.smtp_addr = "%s:%d" % (env.spated_ip, port)
    return env


def test_bad_user_or_group_is_config_error():
    with Env("privdrop_badname") as env:
        for extra, want in (("spate_user = no-such-user-xyz", "unknown user"),
                            ("spate_user = nobody\nspate_group = no-such-group-xyz",
                             "unknown group"),
                            ("exim_user = no-such-user-xyz", "unknown user"),
                            ("spate_user = root", "is root"),
                            ("spate_user =", "must not be empty")):
            conf = env.write_config(extra_main=extra)
            p = subprocess.run([SPATED, "-c", conf, "--check-config"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, timeout=30)
            err = p.stderr.decode()
            assert p.returncode != 0, "%r accepted: %s" % (extra, p.stdout)
            assert want in err and "spated.conf:" in err, (extra, err)
        conf = env.write_config(extra_main="spate_user = nobody\nexim_group = %d" % os.getgid())
        p = subprocess.run([SPATED, "-c", conf, "--check-config"], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=30)
        assert p.returncode == 0, p.stderr


def test_root_binds_25_then_runs_as_user():
    name, uid, gid = _account()
    with _root_env("privdrop_run") as env:
        env.start_dns(env.mx_zone(1))
        sink = env.start_spate_sink(env.sink_addrs(1))
        conf = env.write_config(extra_main="smtp_listen = %s\nspate_user = %s" %
                                (env.smtp_addr, name))
        os.chmod(conf, 0o644)
        _chown_tree(env.spool_dir, uid, gid)  # write_config made it as root
        spated = env.start_spated(conf)
        # every thread of the daemon: real, effective, saved and fs ids
        tasks = os.listdir("/proc/%d/task" % spated.pid)
        assert len(tasks) > 2, tasks
        for t in tasks:
            ids = _ids("/proc/%d/task/%s/status" % (spated.pid, t))
            assert ids["Uid"] == [str(uid)] * 4, (t, ids)
            assert ids["Gid"] == [str(gid)] * 4, (t, ids)
            assert ids["Groups"] == [str(gid)], (t, ids)
            assert int(ids["CapEff"][0], 16) == 0 and int(ids["CapPrm"][0], 16) == 0, (t, ids)
        # port 25 is bound, and mail still goes through it to a receiver
        host, port = spatetest.split_addr(env.smtp_addr)
        assert port == 25
        code, text = spatetest.smtp_send(host, port, "a@sender.%s" % TLD,
                                         ["b@d1.%s" % TLD],
                                         b"Subject: privdrop\r\n\r\nhello\r\n")
        assert code == 250, (code, text)
        sink.wait_messages(1, timeout=30)
        assert b"hello" in sink.messages()[0][1]
        wait_for(lambda: env.log_grep(r" Completed"), 30, what="Completed in the log")
        assert env.log_grep(r"started: .* uid %d gid %d" % (uid, gid)), env.main_log()[-5:]
        # what the spool holds is the account's
        for root, dirs, files in os.walk(env.spool_dir):
            for n in dirs + files:
                st = os.lstat(os.path.join(root, n))
                assert st.st_uid == uid, (os.path.join(root, n), st.st_uid)
        assert spated.stop() == 0


def test_root_refuses_foreign_spool():
    name, uid, gid = _account()
    with _root_env("privdrop_spool", port=2525) as env:
        conf = env.write_config(extra_main="spate_user = %s" % name)
        os.makedirs(os.path.join(env.spool_dir, "db"), exist_ok=True)
        _chown_tree(env.spool_dir, uid, gid)
        with open(os.path.join(env.spool_dir, "db", "stray"), "w") as f:
            f.write("root's\n")
        p = subprocess.run([SPATED, "-c", conf], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=30)
        err = p.stderr.decode()
        assert p.returncode != 0, err
        assert "db/stray belongs to uid 0" in err and "chown -R" in err, err
        # chowned, it starts; a missing spool is created for the account
        _chown_tree(env.spool_dir, uid, gid)
        spated = env.start_spated(conf)
        assert spated.stop() == 0
        env.spool_dir = os.path.join(env.dir, "fresh", "spool")
        conf = env.write_config(extra_main="spate_user = %s" % name, name="fresh.conf")
        os.rmdir(env.spool_dir)  # write_config made it as root
        spated = env.start_spated(conf)
        assert os.stat(env.spool_dir).st_uid == uid
        assert spated.stop() == 0


def test_notify_socket_readiness():
    with Env("privdrop_notify") as env:
        path = env.path("notify.sock")
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        s.bind(path)
        s.settimeout(20)
        os.environ["NOTIFY_SOCKET"] = path
        try:
            spated = env.start_spated(env.write_config())
        finally:
            del os.environ["NOTIFY_SOCKET"]
        first = s.recv(4096).decode()
        assert "READY=1" in first.split("\n"), first
        spated.popen.send_signal(signal.SIGHUP)
        got = [s.recv(4096).decode(), s.recv(4096).decode()]
        assert "RELOADING=1" in got[0] and "READY=1" in got[1], got
        spated.popen.send_signal(signal.SIGTERM)
        assert "STOPPING=1" in s.recv(4096).decode()
        assert spated.stop() == 0
        s.close()


spatetest.main(globals())

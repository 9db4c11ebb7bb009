"""test_holes_spool - the spool when its disk or directory fails: a full
file system makes SMTP answer 451 and the HTTP inject 503, acknowledges
nothing that is not on disk, and once space is freed the same daemon accepts
and delivers again; a spool directory that cannot be used (a file where a
directory should be, a read-only file system: things even root cannot get
past, unlike a mode of 000) stops spated at start with an error naming the
path.

The file-system cases mount a small tmpfs, which needs root: the test moves
itself into a mount namespace of its own first (unshare(CLONE_NEWNS), mounts
made private), so nothing it mounts is seen outside, and whatever happens the
mounts go away with the test process; it unmounts them itself too."""

import contextlib
import ctypes
import errno
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import spatetest  # noqa: E402
from spatetest import Env, Skip, http_inject, smtp_send_many, wait_for  # noqa: E402

TLD = spatetest.TLD
D1 = "d1.%s" % TLD
CLONE_NEWNS = 0x00020000
BIG = 256 * 1024  # a body that cannot fit in what is left of a page
_private = False


def private_mounts():
    """Move this process (and what it starts from now on) into a mount
    namespace of its own; Skip where that is not allowed."""
    global _private
    if _private:
        return
    if os.geteuid() != 0:
        raise Skip("mounting a tmpfs needs root")
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWNS) != 0:
        raise Skip("unshare(CLONE_NEWNS): %s" % os.strerror(ctypes.get_errno()))
    subprocess.run(["mount", "--make-rprivate", "/"], check=True)
    _private = True


@contextlib.contextmanager
def tmpfs(path, size):
    """A tmpfs of `size` (e.g. "4m") mounted on path for the block."""
    os.makedirs(path, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%s,mode=0755" % size, "spate-test",
                    path], check=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", path])


def fill(path):
    """Write path until the file system is full; returns the bytes written."""
    n = 0
    with open(path, "wb", buffering=0) as f:
        for chunk in (1 << 20, 1 << 16, 4096, 512, 1):
            while True:
                try:
                    n += f.write(b"\0" * chunk)
                except OSError as e:
                    if e.errno != errno.ENOSPC:
                        raise
                    break
    return n


def message(tag, size=BIG):
    """A message with a unique header and a body of about size octets."""
    line = b"x" * 76 + b"\r\n"
    return (b"Subject: spool %s\r\nX-Spool-Test: %s\r\n\r\n" % (tag.encode(), tag.encode()) +
            line * (size // len(line)))


def http_one(tag):
    return {"envelope_sender": "s@x.%s" % TLD, "recipients": ["%s@%s" % (tag, D1)],
            "content": message(tag).decode()}


def smtp(env, tags):
    """Send one message per tag on one connection; [(code, text)]."""
    host, port = spatetest.split_addr(env.smtp_addr)
    return smtp_send_many(host, port, [("s@x.%s" % TLD, ["%s@%s" % (t, D1)], message(t))
                                       for t in tags])


def delivered(sink):
    """{tag: times delivered} at the sink."""
    out = {}
    for _, data in sink.messages():
        m = re.search(rb"X-Spool-Test: (\S+)\r\n", data)
        if m:
            tag = m.group(1).decode()
            out[tag] = out.get(tag, 0) + 1
    return out


def counter(env, name):
    return spatetest.metrics(env.http_url).get(name, 0)


def test_full_disk_refuses_then_accepts_again_without_restart():
    private_mounts()
    with Env("spool-full") as env:
        env.start_dns(env.mx_zone(1))
        sink = env.start_spate_sink(env.sink_addrs(1))
        with tmpfs(env.path("fs"), "4m") as mnt:
            env.spool_dir = os.path.join(mnt, "spool")
            spated = env.start_spated(env.write_config())
            try:
                # before: both ways in work
                assert [c for c, _ in smtp(env, ["before1"])] == [250]
                status, body = http_inject(env.http_url, http_one("before2"))
                assert status == 200, (status, body)
                wait_for(lambda: delivered(sink) == {"before1": 1, "before2": 1}, 30,
                         what="the first two messages delivered")
                wait_for(lambda: counter(env, "spate_queue_messages") == 0, 10,
                         what="an empty queue")
                received = counter(env, "spate_messages_received_total")

                # full: every submission is refused, nothing is acknowledged
                filler = os.path.join(mnt, "filler")
                fill(filler)
                assert os.statvfs(mnt).f_bavail == 0
                replies = smtp(env, ["full1", "full2", "full3"])
                for code, text in replies:
                    assert code == 451, replies
                    assert "spool write failed" in text, replies
                for tag in ("full4", "full5"):
                    status, body = http_inject(env.http_url, http_one(tag))
                    assert status == 503, (status, body)
                    assert body["error"].startswith("spool commit failed"), body
                    assert body["ids"] == [], body
                status, body = http_inject(env.http_url, {"messages": [http_one("full6"),
                                                                       http_one("full7")]})
                assert status == 503 and body["ids"] == [], (status, body)
                assert counter(env, "spate_messages_received_total") == received
                assert env.log_grep(r"spool: writing message bodies failed: No space left|"
                                    r"spool: LMDB commit failed")
                spated.check_alive()

                # space again: the same daemon takes mail and delivers it
                os.unlink(filler)
                assert [c for c, _ in smtp(env, ["after1"])] == [250]
                status, body = http_inject(env.http_url, http_one("after2"))
                assert status == 200, (status, body)
                want = {"before1": 1, "before2": 1, "after1": 1, "after2": 1}
                wait_for(lambda: delivered(sink) == want, 30,
                         what="the messages sent after the space came back delivered")
                wait_for(lambda: counter(env, "spate_queue_messages") == 0, 10,
                         what="an empty queue")
                time.sleep(0.5)  # nothing refused may turn up late
                assert delivered(sink) == want
                assert counter(env, "spate_messages_received_total") == received + 2
            finally:
                spated.stop()  # before the unmount; the Env checks its exit status


def start_fails(env, spool_dir, name):
    """Run spated on a configuration whose spool_directory is spool_dir;
    it must exit non-zero within 30 s. Returns its stderr."""
    keep = env.spool_dir
    conf = env.write_config(name=name)
    with open(conf) as f:
        text = f.read()
    with open(conf, "w") as f:
        f.write(text.replace("spool_directory = %s\n" % keep,
                             "spool_directory = %s\n" % spool_dir))
    p = subprocess.run([os.path.join(spatetest.BUILD, "spated"), "-c", conf],
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       cwd=env.dir, timeout=30)
    err = p.stderr.decode("utf-8", "replace")
    assert p.returncode != 0, "spated started on %s:\n%s" % (spool_dir, err)
    assert not spatetest.is_listening(env.smtp_addr)
    return err


def assert_names(err, path, reason):
    """stderr has a "spool:" error line naming path and the reason."""
    lines = [l for l in err.splitlines() if "spool: " in l and path in l and reason in l]
    assert lines, "no spool error naming %s (%s) in:\n%s" % (path, reason, err)


def test_unusable_spool_directory_stops_start_naming_it():
    with Env("spool-bad") as env:
        # a file where the spool directory should be
        path = env.path("a-file")
        with open(path, "w") as f:
            f.write("not a directory\n")
        assert_names(start_fails(env, path, "file.conf"), path, "Not a directory")

        # the spool's own subdirectories: a file where db/ or bodies/ go
        for sub in ("db", "bodies"):
            spool = env.path("spool-" + sub)
            os.makedirs(spool)
            with open(os.path.join(spool, sub), "w") as f:
                f.write("not a directory\n")
            assert_names(start_fails(env, spool, sub + ".conf"), os.path.join(spool, sub),
                         "Not a directory")

        # a path through a file
        assert_names(start_fails(env, os.path.join(path, "spool"), "through.conf"),
                     os.path.join(path, "spool"), "Not a directory")


def test_read_only_spool_stops_start_naming_it():
    private_mounts()
    with Env("spool-ro") as env:
        env.start_dns(env.mx_zone(1))
        env.start_spate_sink(env.sink_addrs(1))
        with tmpfs(env.path("fs"), "4m") as mnt:
            # a working spool, with mail in it, then read-only
            env.spool_dir = os.path.join(mnt, "spool")
            conf = env.write_config(extra_main="queue_only = true")
            spated = env.start_spated(conf)
            assert [c for c, _ in smtp(env, ["ro1"])] == [250]
            assert spated.stop() == 0
            subprocess.run(["mount", "-o", "remount,ro", mnt], check=True)
            assert_names(start_fails(env, env.spool_dir, "ro.conf"), env.spool_dir,
                         "Read-only file system")
            # a spool directory still to be made on a read-only file system
            assert_names(start_fails(env, os.path.join(mnt, "new"), "ronew.conf"),
                         os.path.join(mnt, "new"), "Read-only file system")
            # writable again: the message is still there
            subprocess.run(["mount", "-o", "remount,rw", mnt], check=True)
            spated = env.start_spated(conf)
            assert env.log_grep(r"started: pid %d, 1 queued message" % spated.pid)
            assert spated.stop() == 0


spatetest.main(globals())

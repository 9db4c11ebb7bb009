"""test_cli - spated's command line and signals: --check-config with good and
broken files (FILE:LINE: and the offending name), -o overrides, -bV and
--version, -bt routing against the test DNS, the embedded default
configuration, SIGTERM (exit 0, nothing lost) and SIGHUP reloads (a changed
destinations section takes effect; a broken file keeps the running one)."""

import os
import re
import signal
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import spatetest  # noqa: E402
from spatetest import Env, smtp_send, wait_for  # noqa: E402

SPATED = os.path.join(spatetest.BUILD, "spated")
D1 = "d1.%s" % spatetest.TLD
D2 = "d2.%s" % spatetest.TLD

# Functional checks of the one-shot modes run without leak detection, so
# that what they print is judged on its own; test_one_shot_modes_exit_cleanly
# runs them with it (LeakSanitizer turns a leak into exit status 1 and
# drops buffered standard output).
NO_LEAK_CHECK = dict(os.environ, ASAN_OPTIONS="detect_leaks=0")
LEAK_CHECK = dict(os.environ, ASAN_OPTIONS="detect_leaks=1")


def run(args, cwd=None, env=None, timeout=30):
    """Run spated ARGS; returns (exit status, stdout, stderr)."""
    p = subprocess.run([SPATED] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       cwd=cwd, env=env or NO_LEAK_CHECK, timeout=timeout)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


def write(path, text):
    with open(path, "w") as f:
        f.write(text)
    return path


def line_of(path, needle):
    """1-based number of the first line of path containing needle."""
    with open(path) as f:
        for i, line in enumerate(f, 1):
            if needle in line:
                return i
    raise AssertionError("%s not in %s" % (needle, path))


def with_destinations(env, body, name="spated.conf"):
    """The harness configuration with a 'begin destinations' section appended."""
    path = env.write_config(name=name)
    with open(path, "a") as f:
        f.write("begin destinations\n" + body)
    return path


def test_check_config_good_and_broken():
    with Env("cli_check") as env:
        good = env.write_config()
        rc, out, err = run(["-c", good, "--check-config"])
        assert rc == 0, (rc, err)
        assert "valid" in out, out
        rc, out, err = run(["-c", with_destinations(env, "*:\n  max_connections = 3\n",
                                                    "dest.conf"), "--check-config"])
        assert rc == 0, (rc, err)

        cases = []
        p = env.write_config(extra_main="no_such_option = 1", name="unknown.conf")
        cases.append((p, line_of(p, "no_such_option"), "no_such_option"))
        p = env.write_config(extra_main="worker_threads = lots", name="value.conf")
        cases.append((p, line_of(p, "worker_threads = lots"), "worker_threads"))
        p = env.write_config(extra_main="message_size_limit = 10Q", name="size.conf")
        cases.append((p, line_of(p, "message_size_limit = 10Q"), "message_size_limit"))
        p = env.write_config(extra_main="begin bogus_section\nx = 1", name="section.conf")
        cases.append((p, line_of(p, "begin bogus_section"), "bogus_section"))
        p = env.write_config(routers="r1:\n  driver = dnslookup\n  transport = nowhere_smtp\n",
                             name="transport.conf")
        cases.append((p, line_of(p, "transport = nowhere_smtp"), "nowhere_smtp"))
        p = env.write_config(routers="r1:\n  driver = teleport\n  transport = remote_smtp\n",
                             name="driver.conf")
        cases.append((p, line_of(p, "driver = teleport"), "teleport"))
        p = with_destinations(env, "*:\n  max_connections = none\n", "destbad.conf")
        cases.append((p, line_of(p, "max_connections = none"), "max_connections"))
        for path, line, name in cases:
            rc, out, err = run(["-c", path, "--check-config"])
            assert rc != 0, (path, out)
            where = "%s:%d:" % (path, line)
            assert where in err, "%s: expected %r in %r" % (os.path.basename(path), where, err)
            assert re.search(re.escape(path) + r":\d+: ", err), err
            assert name in err, "%s: %r not named in %r" % (os.path.basename(path), name, err)
        # a missing file is an error naming it
        rc, out, err = run(["-c", env.path("absent.conf"), "--check-config"])
        assert rc != 0 and "absent.conf" in err, (rc, err)


def test_overrides():
    with Env("cli_override") as env:
        env.start_dns(env.mx_zone(1))
        sink = env.start_spate_sink(env.sink_addrs(1))
        conf = env.write_config()
        # an unknown option, or a bad value, on the command line is refused
        rc, out, err = run(["-c", conf, "-o", "no_such=1", "--check-config"])
        assert rc != 0 and "no_such" in err, (rc, err)
        rc, out, err = run(["-c", conf, "-o", "smtp_accept_max=none", "--check-config"])
        assert rc != 0 and "smtp_accept_max" in err, (rc, err)
        rc, out, err = run(["-c", conf, "-o", "no_such=1"])  # the daemon does not start
        assert rc != 0 and "no_such" in err, (rc, err)
        # -o smtp_listen moves the listener
        moved = "%s:2526" % env.ip(0, 2)
        spated = env.start_spated(conf, extra_args=["-o", "smtp_listen=" + moved],
                                  smtp_addr=moved)
        assert spatetest.is_listening(moved)
        assert not spatetest.is_listening(env.smtp_addr), "still listening on the file's address"
        host, port = spatetest.split_addr(moved)
        code, text = smtp_send(host, port, "o@example.org", ["o@%s" % D1], b"Subject: o\n\no\n")
        assert code == 250, text
        sink.wait_messages(1)
        assert spated.stop() == 0


def test_version():
    rc, out, err = run(["-bV"])
    assert rc == 0, (rc, err)
    assert re.match(r"spate version \d+\.\d+\.\d+\n", out), out
    assert "TLS library: OpenSSL" in out, out
    rc, out2, err = run(["--version"])
    assert rc == 0 and out2.splitlines()[0] == out.splitlines()[0], (out2, err)


def test_address_test_mode():
    with Env("cli_bt") as env:
        env.start_dns(env.mx_zone(2) + env.null_mx() + env.implicit_mx())
        conf = env.write_config()
        rc, out, err = run(["-c", conf, "-bt", "user@%s" % D1])
        assert rc == 0, (rc, err)
        assert "router = dnslookup" in out and "transport = remote_smtp" in out, out
        assert re.search(r"(?m)^\s+host mx\.%s pref=10$" % re.escape(D1), out), out
        assert re.search(r"(?m)^\s+address %s$" % re.escape(env.sink_ip(1)), out), out
        rc, out, err = run(["-c", conf, "-bt", "user@nullmx.%s" % spatetest.TLD])
        assert "null MX" in out, out
        assert "address " not in out, out
        rc, out, err = run(["-c", conf, "-bt", "user@nomx.%s" % spatetest.TLD])
        assert "implicit MX" in out and env.sink_ip(1) in out, out
        # several addresses in one call, each with its own answer
        rc, out, err = run(["-c", conf, "-bt", "a@%s" % D1, "b@%s" % D2])
        assert rc == 0 and env.sink_ip(1) in out and env.sink_ip(2) in out, out
        assert out.index("a@%s" % D1) < out.index(env.sink_ip(1)) < out.index("b@%s" % D2), out
        # a domain no router takes, and an invalid address
        p = env.write_config(routers="only_d1:\n  driver = dnslookup\n  domains = %s\n"
                             "  transport = remote_smtp\n" % D1, name="d1only.conf")
        rc, out, err = run(["-c", p, "-bt", "x@%s" % D2])
        assert rc != 0 and "Unrouteable" in out, (rc, out)
        rc, out, err = run(["-c", conf, "-bt", "not-an-address"])
        assert rc != 0 and "not a valid address" in out, (rc, out)


def test_embedded_default_configuration():
    with Env("cli_default") as env:
        rc, out, err = run(["--check-config"], cwd=env.dir)
        assert rc == 0, (rc, err)
        assert "embedded default" in out, out
        # the default on this test's network: it accepts mail and routes it
        # by MX to port 25 (nothing listens there: the message is deferred)
        env.start_dns(env.mx_zone(1))
        args = ["-o", "smtp_listen=" + env.smtp_addr,
                "-o", "http_listen=%s:%d" % (env.spated_ip, spatetest.HTTP_PORT),
                "-o", "log_file_path=" + env.log_path,
                "-o", "dns_servers=" + env.dns_addr, "-o", "worker_threads=1"]
        p = spatetest.Spated("spated", [SPATED] + args, env.dir)
        env.procs.append(p)
        p.smtp_addr, p.http_url, p.log_path = env.smtp_addr, env.http_url, env.log_path

        def up():
            p.check_alive()
            return spatetest.is_listening(env.smtp_addr) and spatetest.is_listening(
                "%s:%d" % (env.spated_ip, spatetest.HTTP_PORT))
        wait_for(up, 20, what="spated on the embedded default")
        host, port = spatetest.split_addr(env.smtp_addr)
        code, text = smtp_send(host, port, "d@example.org", ["d@%s" % D1], b"Subject: d\n\nd\n")
        assert code == 250, text
        wait_for(lambda: env.log_grep(r" == d@%s R=dnslookup .*\[%s\]:25\b" % (
            re.escape(D1), re.escape(env.sink_ip(1)))), 20, what="deferral to port 25")
        assert os.path.isdir(os.path.join(env.dir, "var", "spool")), os.listdir(env.dir)


def test_sigterm_keeps_queued_mail():
    with Env("cli_term") as env:
        env.start_dns(env.mx_zone(1))
        conf = env.write_config(retry="* * F,1h,2s")
        spated = env.start_spated(conf)
        # no receiver yet: the message is deferred (connection refused)
        status, ans = spatetest.http_inject(env.http_url, {
            "envelope_sender": "", "recipients": ["t@%s" % D1],
            "content": "Subject: t\n\nkept over a restart\n"})
        assert status == 200, ans
        mid = ans["ids"][0]
        wait_for(lambda: env.log_grep(r" %s == " % mid), 15, what="the deferral")
        spated.popen.send_signal(signal.SIGTERM)
        assert spated.popen.wait(20) == 0, spated.stderr_text()[-3000:]
        log = env.main_log()
        assert log[-1].endswith("spated stopped"), log[-3:]
        assert "spated stopped" in spated.stderr_text()
        # the deferred message is still queued and goes out after the restart
        sink = env.start_spate_sink(env.sink_addrs(1))
        spated = env.start_spated(conf)
        assert env.log_grep(r"started: .* 1 queued message\(s\) recovered"), env.main_log()[-3:]
        e, data = sink.wait_messages(1)[0]
        assert e["rcpt_to"] == ["t@%s" % D1] and b"kept over a restart" in data
        completed = wait_for(lambda: env.log_grep(r" %s Completed" % mid), 10, what="Completed")
        assert len(completed) == 1
        assert spated.stop() == 0


def deliverer(env, sink):
    """deliver(tag): send one message to TAG@d1 over SMTP; the sink's envelope."""
    host, port = spatetest.split_addr(env.smtp_addr)

    def deliver(tag):
        n = sink.count()
        code, text = smtp_send(host, port, "h@example.org", ["%s@%s" % (tag, D1)],
                               ("Subject: %s\n\n%s\n" % (tag, tag)).encode())
        assert code == 250, text
        return sink.wait_messages(n + 1)[-1][0]
    return deliver


def test_sighup_reload():
    with Env("cli_hup") as env:
        env.start_dns(env.mx_zone(1))
        sink = env.start_spate_sink(env.sink_addrs(1))
        conf = with_destinations(env, "*:\n  max_messages_per_connection = 1\n")
        spated = env.start_spated(conf)
        deliver = deliverer(env, sink)
        # one message per connection
        assert deliver("before1")["msg_in_conn"] == 1
        assert deliver("before2")["msg_in_conn"] == 1
        # SIGHUP with a changed destinations section: connections are reused
        with_destinations(env, "*:\n  max_messages_per_connection = 100\n")
        spated.popen.send_signal(signal.SIGHUP)
        wait_for(lambda: env.log_grep(r"configuration reloaded"), 10, what="the reload record")
        assert deliver("after1")["msg_in_conn"] == 1
        assert deliver("after2")["msg_in_conn"] == 2, "the new limit is not applied"
        # a broken file: logged with FILE:LINE:, the running configuration stays
        write(conf, open(conf).read() + "no_such_option = 1\n")
        bad_line = line_of(conf, "no_such_option")
        spated.popen.send_signal(signal.SIGHUP)
        wait_for(lambda: env.log_grep(r"configuration error, keeping the running one"), 10,
                 what="the reload error record")
        rec = env.log_grep(r"configuration error, keeping the running one")[0]
        assert "%s:%d:" % (conf, bad_line) in rec and "no_such_option" in rec, rec
        assert len(env.log_grep(r"configuration reloaded")) == 1
        spated.check_alive()
        # still serving, SMTP and HTTP, with the configuration it had
        assert deliver("broken1")["msg_in_conn"] == 3
        status, ans = spatetest.http_inject(env.http_url, {
            "envelope_sender": "h@example.org", "recipients": ["broken2@%s" % D1],
            "content": "Subject: b\n\nb\n"})
        assert status == 200, ans
        e = sink.wait_messages(6)[-1][0]
        assert e["rcpt_to"] == ["broken2@%s" % D1] and e["msg_in_conn"] == 4, e
        assert spated.stop() == 0


def test_sighup_lowered_limit_applies_to_cached_connections():
    """After a reload lowers max_messages_per_connection, a cached connection
    that has already carried that many messages is not used again."""
    with Env("cli_hup_limit") as env:
        env.start_dns(env.mx_zone(1))
        sink = env.start_spate_sink(env.sink_addrs(1))
        conf = with_destinations(env, "*:\n  max_messages_per_connection = 100\n")
        spated = env.start_spated(conf)
        deliver = deliverer(env, sink)
        assert deliver("before1")["msg_in_conn"] == 1
        assert deliver("before2")["msg_in_conn"] == 2
        with_destinations(env, "*:\n  max_messages_per_connection = 1\n")
        spated.popen.send_signal(signal.SIGHUP)
        wait_for(lambda: env.log_grep(r"configuration reloaded"), 10, what="the reload record")
        for tag in ("after1", "after2"):
            e = deliver(tag)
            assert e["msg_in_conn"] == 1, ("message %d on one connection with a limit of 1" % (
                e["msg_in_conn"]), e)


def test_one_shot_modes_exit_cleanly():
    """-bV, --version, --check-config and -bt end with status 0 and their
    output under the CI build (AddressSanitizer with leak detection)."""
    with Env("cli_leaks") as env:
        env.start_dns(env.mx_zone(1))
        conf = env.write_config()
        problems = []
        for args in (["-bV"], ["--version"], ["--check-config"], ["-c", conf, "--check-config"],
                     ["-c", conf, "-bt", "u@%s" % D1]):
            rc, out, err = run(args, cwd=env.dir, env=LEAK_CHECK)
            if rc != 0 or not out.strip():
                first = [l for l in err.splitlines() if "ERROR" in l or "SUMMARY" in l]
                problems.append("spated %s: exit %d, %d bytes of output; %s" % (
                    " ".join(args), rc, len(out), " / ".join(first)[:300]))
        assert not problems, "\n".join(problems)


spatetest.main(globals())

"""Event actions, Redis and LMDB lookups, end to end (seed "Event Actions",
"Redis Lookup", "LMDB Lookup support"): a real redis-server records what the
daemon's event_action writes; tcp:connect and smtp:connect results steer
delivery; a Redis that stops mid-run does not stop delivery."""

import os
import subprocess
import time

import spatetest
from spatetest import Env, wait_for

TLD = spatetest.TLD
RECORD = ("${if eq{$event_name}{msg:delivery}"
          "{${lookup redis{RPUSH deliveries $message_exim_id:$local_part@$domain:$host_address}}}"
          "{${if eq{$event_name}{msg:host:defer}"
          "{${lookup redis{RPUSH defers $local_part@$domain:$host_address}}}{}}}}")
MAIN_RECORD = ("${lookup redis{RPUSH msgevents $event_name:$message_exim_id"
               "${if def:local_part{:$local_part@$domain}{}}}}")


def _redis(env):
    """A throwaway redis-server on the test's own loopback address."""
    ip = env.ip(0, 63)
    port = 16379
    argv = ["redis-server", "--port", str(port), "--bind", ip, "--save", "", "--appendonly",
            "no", "--dir", env.dir]
    p = env._start("redis", argv, spatetest.Proc)
    wait_for(lambda: spatetest.is_listening("%s:%d" % (ip, port)), 10, what="redis-server")
    return p, ip, port


def _rcli(ip, port, *args):
    out = subprocess.run(["redis-cli", "-h", ip, "-p", str(port)] + list(args),
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=10)
    return out.stdout.decode().strip()


def _config(env, ip, port, transport_action=RECORD, main_action=MAIN_RECORD, extra=""):
    transports = ("remote_smtp:\n  driver = smtp\n  port = %d\n  event_action = %s\n" %
                  (spatetest.SINK_PORT, transport_action))
    main = "redis_servers = %s::%d//\n" % (ip, port)
    if main_action:
        main += "event_action = %s\n" % main_action
    return env.write_config(extra_main=main + extra, transports=transports)


def test_delivery_events_recorded_once_per_recipient_in_redis():
    n = 1000
    with Env("events-redis") as env:
        env.start_dns(env.mx_zone(4))
        sink = env.start_spate_sink(env.sink_addrs(4))
        _, rip, rport = _redis(env)
        env.start_spated(_config(env, rip, rport))
        obj = {"messages": [{"envelope_sender": "s@x.%s" % TLD,
                             "recipients": ["u%d@d%d.%s" % (i, i % 4 + 1, TLD)],
                             "content": "Subject: %d\n\nbody\n" % i} for i in range(n)]}
        for k in range(0, n, 100):
            status, body = spatetest.http_inject(env.http_url + "/api/v1/inject",
                                                 {"messages": obj["messages"][k:k + 100]})
            assert status == 200, body
        wait_for(lambda: sink.count() == n, 120, 0.2, what="%d delivered" % n)
        wait_for(lambda: _rcli(rip, rport, "LLEN", "deliveries") == str(n), 30, 0.2,
                 what="%d entries in Redis" % n)
        entries = _rcli(rip, rport, "LRANGE", "deliveries", "0", "-1").splitlines()
        assert len(entries) == n == len(set(entries)), "duplicates in %d entries" % len(entries)
        ids = {l.split()[2] for l in env.log_grep(r" <= s@x\.")}
        for e in entries:
            msgid, rcpt, ip = e.split(":")
            assert msgid in ids, e
            assert ip.startswith("127.%d.1." % env.net), e
            assert rcpt.endswith(TLD), e
        # main-section events: one msg:complete per message, in order after its delivery
        wait_for(lambda: _rcli(rip, rport, "LLEN", "msgevents") == str(n), 30, 0.2,
                 what="msg:complete events")
        assert all(e.startswith("msg:complete:") for e in
                   _rcli(rip, rport, "LRANGE", "msgevents", "0", "-1").splitlines())


def test_host_defer_and_fail_events():
    with Env("events-defer") as env:
        env.start_dns(env.mx_zone(1))
        env.start_spate_sink(env.sink_addrs(1))
        _, rip, rport = _redis(env)
        env.start_spated(_config(env, rip, rport))
        code, _ = spatetest.smtp_send(env.spated_ip, spatetest.SMTP_PORT, "",
                                      ["tempfail-once-e@d1.%s" % TLD, "permfail-e@d1.%s" % TLD],
                                      b"Subject: e\r\n\r\nbody\r\n")
        assert code == 250
        wait_for(lambda: env.log_grep(r" Completed$"), 20, what="Completed")
        wait_for(lambda: _rcli(rip, rport, "LLEN", "deliveries") == "1", 10, what="delivery")
        defers = _rcli(rip, rport, "LRANGE", "defers", "0", "-1").splitlines()
        assert defers == ["tempfail-once-e@d1.%s:%s" % (TLD, env.sink_ip(1))], defers
        wait_for(lambda: "msg:complete" in _rcli(rip, rport, "LRANGE", "msgevents", "0", "-1"),
                 10, what="msg:complete")
        events = _rcli(rip, rport, "LRANGE", "msgevents", "0", "-1").splitlines()
        msgid = env.log_grep(r" <= <> ")[0].split()[2]
        assert events == ["msg:fail:delivery:%s:permfail-e@d1.%s" % (msgid, TLD),
                          "msg:complete:%s" % msgid], events


def test_tcp_connect_event_skips_a_host():
    with Env("events-tcpconnect") as env:
        primary, backup = env.ip(2, 1), env.ip(2, 2)
        env.start_dns(env.two_mx("twomx", primary=primary, backup=backup))
        sinks = env.start_spate_sink(["%s:%d" % (a, spatetest.SINK_PORT)
                                      for a in (primary, backup)])
        action = ("${if and{{eq{$event_name}{tcp:connect}}{eq{$host_address}{%s}}}{skip}{}}" %
                  primary)
        env.start_spated(env.write_config(transports=(
            "remote_smtp:\n  driver = smtp\n  port = %d\n  event_action = %s\n" %
            (spatetest.SINK_PORT, action))))
        code, _ = spatetest.smtp_send(env.spated_ip, spatetest.SMTP_PORT, "",
                                      ["a@twomx.%s" % TLD], b"Subject: t\r\n\r\nbody\r\n")
        assert code == 250
        wait_for(lambda: sinks.count() == 1, 20, what="delivery via the next MX")
        assert sinks.messages()[0][0]["local"].startswith(backup)
        st = sinks.stats()["by_local"]
        assert st["%s:%d" % (primary, spatetest.SINK_PORT)]["connections_total"] == 0


def test_smtp_connect_event_closes_the_connection():
    with Env("events-smtpconnect") as env:
        env.start_dns(env.mx_zone(2))
        sink = env.start_spate_sink(env.sink_addrs(2))
        action = "${if and{{eq{$event_name}{smtp:connect}}{eq{$domain}{d1.%s}}}{close}{}}" % TLD
        env.start_spated(env.write_config(retry="* * F,1h,30s", transports=(
            "remote_smtp:\n  driver = smtp\n  port = %d\n  event_action = %s\n" %
            (spatetest.SINK_PORT, action))))
        for dom in ("d1", "d2"):
            code, _ = spatetest.smtp_send(env.spated_ip, spatetest.SMTP_PORT, "",
                                          ["x@%s.%s" % (dom, TLD)], b"Subject: c\r\n\r\nb\r\n")
            assert code == 250
        wait_for(lambda: env.log_grep(r" == x@d1\."), 20, what="d1 deferred")
        line = env.log_grep(r" == x@d1\.")[0]
        assert "smtp:connect event closed the connection" in line, line
        wait_for(lambda: sink.count() == 1, 20, what="d2 delivered")
        assert sink.messages()[0][0]["rcpt_to"] == ["x@d2.%s" % TLD]
        assert sink.stats()["by_local"][env.sink_addrs(2)[0]]["messages"] == 0


def test_redis_stopped_mid_run_delivery_continues():
    with Env("events-redisdown") as env:
        env.start_dns(env.mx_zone(1))
        sink = env.start_spate_sink(env.sink_addrs(1))
        redis, rip, rport = _redis(env)
        env.start_spated(_config(env, rip, rport, main_action=None))
        send = lambda i: spatetest.smtp_send(env.spated_ip, spatetest.SMTP_PORT, "",
                                             ["u%d@d1.%s" % (i, TLD)], b"Subject: r\r\n\r\nb\r\n")
        for i in range(5):
            assert send(i)[0] == 250
        wait_for(lambda: _rcli(rip, rport, "LLEN", "deliveries") == "5", 20, what="5 entries")
        redis.kill9()
        t0 = time.monotonic()
        for i in range(5, 25):
            assert send(i)[0] == 250
        wait_for(lambda: sink.count() == 25, 30, 0.2, what="25 delivered with Redis down")
        assert time.monotonic() - t0 < 20
        wait_for(lambda: len(env.log_grep(r"event_action: msg:delivery: defer")) >= 20, 30,
                 what="the deferred lookups logged")


def test_lmdb_lookup_hits_misses_fail_and_missing_file():
    with Env("events-lmdb") as env:
        db = env.path("routes.mdb")
        dump = env.path("dump.txt")
        with open(dump, "w") as f:  # mdb_load -T: plain key and value lines
            f.write("alice\nmx1.example\nbob\nmx2.example\n")
        subprocess.run(["mdb_load", "-n", "-T", "-f", dump, db], check=True)
        conf = env.write_config()
        spated = os.path.join(spatetest.BUILD, "spated")

        def be(s):
            return subprocess.run([spated, "-c", conf, "-be", s], stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, timeout=20).stdout.decode().strip()
        assert be("${lookup{alice}lmdb{%s}}" % db) == "mx1.example"
        assert be("${lookup{bob}lmdb{%s}{found $value}{none}}" % db) == "found mx2.example"
        assert be("${lookup{carol}lmdb{%s}{found $value}{none}}" % db) == "none"
        assert be("${lookup{carol}lmdb{%s}}" % db) == ""
        assert be("${lookup{carol}lmdb{%s}{$value}fail}" % db).startswith("Failed: forced")
        out = be("${lookup{alice}lmdb{%s}}" % env.path("missing.mdb"))
        assert out.startswith("Failed:") and "missing.mdb" in out, out


spatetest.main(globals())

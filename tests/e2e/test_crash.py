"""Crash safety (SPEC section 9): kill -9 the daemon while 500 messages are
being injected over SMTP and HTTP; restart it; every message that got a 250
or a 200 is delivered. Messages that got no answer may or may not arrive;
nothing acknowledged may be lost."""

import re
import smtplib
import threading
import time

import spatetest
from spatetest import Env, wait_for

TLD = spatetest.TLD
N = 500


def _message(i):
    return b"Subject: crash %d\r\nX-Spate-Test: c%04d\r\n\r\nbody of %d\r\n" % (i, i, i)


def _smtp_injector(env, ids, acked, stop):
    """Send messages one connection at a time until told to stop or refused."""
    host, port = spatetest.split_addr(env.smtp_addr)
    it = iter(ids)
    while not stop.is_set():
        try:
            s = smtplib.SMTP(host, port, timeout=10)
        except OSError:
            return
        try:
            s.ehlo()
            for _ in range(10):
                i = next(it, None)
                if i is None:
                    return
                s.mail("s@x.%s" % TLD)
                s.rcpt("u%d@d%d.%s" % (i, i % 3 + 1, TLD))
                code, _ = s.data(_message(i))
                if code == 250:
                    acked.add(i)
        except (smtplib.SMTPException, OSError, StopIteration):
            return
        finally:
            try:
                s.close()
            except OSError:
                pass


def _http_injector(env, ids, acked, stop):
    for k in range(0, len(ids), 5):
        if stop.is_set():
            return
        chunk = ids[k:k + 5]
        obj = {"messages": [{"envelope_sender": "s@x.%s" % TLD,
                             "recipients": ["u%d@d%d.%s" % (i, i % 3 + 1, TLD)],
                             "content": _message(i).decode()} for i in chunk]}
        try:
            status, _ = spatetest.http_inject(env.http_url + "/api/v1/inject", obj, timeout=10)
        except OSError:
            return
        if status == 200:
            acked.update(chunk)


def _delivered(sink):
    out = {}
    for _, data in sink.messages():
        m = re.search(rb"X-Spate-Test: c(\d{4})", data)
        if m:
            out[int(m.group(1))] = out.get(int(m.group(1)), 0) + 1
    return out


def test_kill9_during_injection_loses_nothing_acknowledged():
    with Env("crash-kill9") as env:
        env.start_dns(env.mx_zone(3))
        # receivers come up only after the restart, so most acknowledged
        # mail is still queued when the daemon dies
        conf = env.write_config(retry="* * F,1h,1s")
        spated = env.start_spated(conf)
        acked_smtp, acked_http = set(), set()
        stop = threading.Event()
        threads = [
            threading.Thread(target=_smtp_injector,
                             args=(env, list(range(0, N // 2)), acked_smtp, stop)),
            threading.Thread(target=_http_injector,
                             args=(env, list(range(N // 2, N)), acked_http, stop)),
        ]
        for t in threads:
            t.start()
        wait_for(lambda: len(acked_smtp) + len(acked_http) >= N // 4, 60, 0.01,
                 what="a quarter of the messages acknowledged")
        spated.kill9()
        stop.set()
        for t in threads:
            t.join(30)
        acked = acked_smtp | acked_http
        assert len(acked) >= N // 4
        assert len(acked) < N, "the kill came too late to test anything"

        sink = env.start_spate_sink(env.sink_addrs(3))
        env.start_spated(conf)
        recovered = env.log_grep(r"started: pid \d+, (\d+) queued message")
        assert recovered, env.main_log()[-5:]
        wait_for(lambda: acked <= set(_delivered(sink)), 90, 0.5,
                 what="every acknowledged message delivered (%d)" % len(acked))
        got = _delivered(sink)
        lost = sorted(acked - set(got))
        assert not lost, "acknowledged but lost: %r" % lost[:10]
        dups = {i: n for i, n in got.items() if n > 1}
        # duplicates are only possible for messages in flight at the kill;
        # the sink was down then, so there must be none
        assert not dups, "delivered twice: %r" % dups
        print("acknowledged %d (SMTP %d, HTTP %d), delivered %d after restart" %
              (len(acked), len(acked_smtp), len(acked_http), len(got)))


def test_restart_picks_up_deferred_mail():
    with Env("crash-restart") as env:
        env.start_dns(env.mx_zone(1))
        conf = env.write_config(retry="* * F,1h,1s")
        spated = env.start_spated(conf)
        for i in range(20):
            code, _ = spatetest.smtp_send(env.spated_ip, spatetest.SMTP_PORT, "s@x.%s" % TLD,
                                          ["u%d@d1.%s" % (i, TLD)], _message(i))
            assert code == 250
        # no receiver yet: every message is deferred
        wait_for(lambda: len(env.log_grep(r" == u\d+@d1")) >= 20, 20, what="20 deferrals")
        assert spated.stop() == 0
        assert env.log_grep(r"spated stopped")
        sink = env.start_spate_sink(env.sink_addrs(1))
        env.start_spated(conf)
        assert env.log_grep(r"started: pid \d+, 20 queued message")
        wait_for(lambda: len(_delivered(sink)) == 20, 30, 0.2, what="20 delivered after restart")
        assert set(_delivered(sink).values()) == {1}


def test_queue_only_holds_mail_and_qf_sends_it_at_once():
    with Env("crash-queueonly") as env:
        env.start_dns(env.mx_zone(1))
        sink = env.start_spate_sink(env.sink_addrs(1))
        conf = env.write_config(extra_main="queue_only = true", retry="* * F,1h,10m")
        spated = env.start_spated(conf)
        for i in range(5):
            code, _ = spatetest.smtp_send(env.spated_ip, spatetest.SMTP_PORT, "s@x.%s" % TLD,
                                          ["u%d@d1.%s" % (i, TLD)], _message(i))
            assert code == 250
        time.sleep(1)
        assert sink.count() == 0, "queue_only delivered mail"
        assert spatetest.metrics(env.http_url + "/metrics")["spate_queue_messages"] == 5
        assert spated.stop() == 0
        # queue_only still set: a restart holds the recovered mail too
        spated = env.start_spated(conf)
        time.sleep(2)
        assert sink.count() == 0, "queue_only delivered recovered mail after a restart"
        assert spatetest.metrics(env.http_url + "/metrics")["spate_queue_messages"] == 5
        assert spated.stop() == 0
        # without queue_only: the same mail goes out at the next start
        env.start_spated(env.write_config(retry="* * F,1h,10m", name="plain.conf"))
        wait_for(lambda: sink.count() == 5, 20, what="5 delivered after restart")
        # a deferred message waits for its retry time; -qf ignores it
        spatetest.smtp_send(env.spated_ip, spatetest.SMTP_PORT, "s@x.%s" % TLD,
                            ["tempfail-once-q@d1.%s" % TLD], _message(9))
        wait_for(lambda: env.log_grep(r" == tempfail-once-q@"), 10, what="a deferral")
        assert env.spated.stop() == 0
        env.start_spated(env.write_config(retry="* * F,1h,10m", name="plain.conf"))
        time.sleep(1)
        assert not env.log_grep(r" => tempfail-once-q@"), "retried before its time"
        assert env.spated.stop() == 0
        env.start_spated(env.write_config(retry="* * F,1h,10m", name="plain.conf"),
                         extra_args=["-qf"])
        wait_for(lambda: env.log_grep(r" => tempfail-once-q@"), 10, what="-qf delivery")
        assert env.spated.stop() == 0


def test_queue_only_with_qf_releases_recovered_mail():
    """-qf is a forced queue run: with queue_only still set it delivers what
    was recovered, while new arrivals stay held."""
    with Env("crash-queueonly-qf") as env:
        env.start_dns(env.mx_zone(1))
        sink = env.start_spate_sink(env.sink_addrs(1))
        conf = env.write_config(extra_main="queue_only = true")
        spated = env.start_spated(conf)
        for i in range(3):
            code, _ = spatetest.smtp_send(env.spated_ip, spatetest.SMTP_PORT, "s@x.%s" % TLD,
                                          ["u%d@d1.%s" % (i, TLD)], _message(i))
            assert code == 250
        assert spated.stop() == 0
        spated = env.start_spated(conf, extra_args=["-qf"])
        wait_for(lambda: sink.count() == 3, 20, what="3 delivered by -qf")
        code, _ = spatetest.smtp_send(env.spated_ip, spatetest.SMTP_PORT, "s@x.%s" % TLD,
                                      ["new@d1.%s" % TLD], _message(7))
        assert code == 250
        time.sleep(1)
        assert sink.count() == 3, "queue_only delivered a new arrival"
        assert spated.stop() == 0


def test_kill9_right_after_delivery_logs_no_duplicate():
    """The recipient state is journaled before the delivery's "=>" line can
    be read from the log: kill -9 right after those lines appear, restart,
    and none of those recipients is delivered again. (Duplicates of messages
    still in flight at the kill are allowed: the receiver had them, spated
    had not read the 250.)"""
    n = 600
    with Env("crash-afterlog") as env:
        env.start_dns(env.mx_zone(2))
        sink = env.start_spate_sink(env.sink_addrs(2))
        conf = env.write_config(retry="* * F,1h,1s")
        spated = env.start_spated(conf)
        acked, stop = set(), threading.Event()
        rx = re.compile(r" => u(\d+)@d\d")

        def inject():
            for k in range(0, n, 25):
                if stop.is_set():
                    return
                chunk = list(range(k, min(n, k + 25)))
                obj = {"messages": [{"envelope_sender": "s@x.%s" % TLD,
                                     "recipients": ["u%d@d%d.%s" % (i, i % 2 + 1, TLD)],
                                     "content": _message(i).decode()} for i in chunk]}
                try:
                    status, _ = spatetest.http_inject(env.http_url + "/api/v1/inject", obj,
                                                      timeout=10)
                except OSError:
                    return
                if status == 200:
                    acked.update(chunk)

        t = threading.Thread(target=inject)
        t.start()
        logged = set()
        deadline = time.time() + 60
        while len(logged) < n // 4 and time.time() < deadline:
            logged = {int(m.group(1)) for m in map(rx.search, env.main_log()) if m}
            time.sleep(0.002)
        assert len(logged) >= n // 4, "too few deliveries logged"
        time.sleep(0.005)  # every line read above is at least 5 ms old at the kill
        spated.kill9()
        stop.set()
        t.join(30)
        assert logged <= acked

        env.start_spated(conf)
        url = env.http_url + "/metrics"
        wait_for(lambda: acked <= set(_delivered(sink))
                 and spatetest.metrics(url)["spate_queue_messages"] == 0, 60, 0.2,
                 what="every acknowledged message delivered")
        got = _delivered(sink)
        again = sorted(i for i in logged if got.get(i, 0) > 1)
        assert not again, "logged => before the kill, delivered again: %r" % again[:10]
        assert not sorted(acked - set(got)), "acknowledged but lost"
        print("acknowledged %d, %d logged => before the kill, %d duplicates in all" %
              (len(acked), len(logged), sum(v - 1 for v in got.values())))


spatetest.main(globals())

"""test_reload - SIGHUP applies a changed transport to destinations that
already exist: the delivery after the reload uses the new port, and the new
hosts_require_tls, even though a connection to that destination was cached
under the old configuration."""

import os
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import spatetest  # noqa: E402
from spatetest import Env, wait_for  # noqa: E402

D1 = "d1.%s" % spatetest.TLD
PORT2 = spatetest.SINK_PORT + 1


def transport(port, extra=""):
    return "remote_smtp:\n  driver = smtp\n  port = %d\n%s" % (port, extra)


def inject(env, tag):
    status, ans = spatetest.http_inject(env.http_url, {
        "envelope_sender": "s@example.org", "recipients": ["%s@%s" % (tag, D1)],
        "content": "Subject: %s\n\n%s\n" % (tag, tag)})
    assert status == 200, ans
    return ans["ids"][0]


def reload(env, spated, transports, n):
    env.write_config(transports=transports)
    spated.popen.send_signal(signal.SIGHUP)
    wait_for(lambda: len(env.log_grep(r"configuration reloaded")) >= n, 10,
             what="reload %d" % n)


def test_sighup_changed_port_and_require_tls_apply_to_cached_destination():
    with Env("reload_tp") as env:
        env.start_dns(env.mx_zone(1))
        ip = env.sink_ip(1)
        sink1 = env.start_spate_sink(["%s:%d" % (ip, spatetest.SINK_PORT)])
        sink2 = env.start_spate_sink(["%s:%d" % (ip, PORT2)])
        conf = env.write_config(transports=transport(spatetest.SINK_PORT),
                                extra_main="")
        spated = env.start_spated(conf)
        inject(env, "before")
        sink1.wait_messages(1)
        # the session to d1 is cached now; the transport's port changes
        reload(env, spated, transport(PORT2), 1)
        inject(env, "after-port")
        e, _ = sink2.wait_messages(1)[0]
        assert e["rcpt_to"] == ["after-port@%s" % D1], e
        assert sink1.count() == 1
        # hosts_require_tls on the same destination: the receiver offers no
        # STARTTLS, so the next message must not go out in clear
        inject(env, "warm")
        sink2.wait_messages(2)
        reload(env, spated, transport(PORT2, "  hosts_require_tls = *\n"), 2)
        mid = inject(env, "after-tls")
        wait_for(lambda: env.log_grep(r"%s == after-tls@" % mid), 15, what="the deferral")
        rec = env.log_grep(r"%s == after-tls@" % mid)[0]
        assert "TLS" in rec or "STARTTLS" in rec, rec
        assert sink2.count() == 2 and sink1.count() == 1
        assert spated.stop() == 0


spatetest.main(globals())

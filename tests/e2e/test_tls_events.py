"""test_tls_events - the tls:cert event end to end (seed "Event Actions"):
raised from inside certificate verification once per certificate of the
chain, top down, with the depth in $event_data and that certificate in
$tls_out_peercert (read with ${certextract}); a non-empty result refuses
verification, which defers a tls_verify_hosts delivery and leaves a
tls_try_verify_hosts one unverified (CV=no). A real redis-server records what
the action saw; msg:delivery sees the server's own certificate and
$verify_mode."""

import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import spatetest  # noqa: E402
from spatetest import Env, wait_for  # noqa: E402

TLD = spatetest.TLD
SENDER = "tester@sender.%s" % TLD
RETRY = "* * F,1h,1s"


def _redis(env):
    ip, port = env.ip(0, 63), 16379
    argv = ["redis-server", "--port", str(port), "--bind", ip, "--save", "", "--appendonly",
            "no", "--dir", env.dir]
    env._start("redis", argv, spatetest.Proc)
    wait_for(lambda: spatetest.is_listening("%s:%d" % (ip, port)), 10, what="redis-server")
    return ip, port


def _list(ip, port, key):
    out = subprocess.run(["redis-cli", "-h", ip, "-p", str(port), "LRANGE", key, "0", "-1"],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=10)
    return out.stdout.decode().splitlines()


# Record each tls:cert (domain, depth, subject, issuer) and each msg:delivery
# (domain, $verify_mode, the server certificate's subject); refuse, for d1 and
# d2 only, a certificate issued by the test intermediate (the leaf).
RECORD_CERT = ("${lookup redis{RPUSH certs ${quote_redis:$domain|$event_data|"
               "${certextract{subject}{$tls_out_peercert}}|"
               "${certextract{issuer}{$tls_out_peercert}}}}{}{}}")
REFUSE = ("${if and{{match{$domain}{^d[12][.]}}"
          "{match{${certextract{issuer}{$tls_out_peercert}}}{Test Intermediate}}}{refuse}{}}")
RECORD_DELIVERY = ("${lookup redis{RPUSH deliveries ${quote_redis:$domain|$verify_mode|"
                   "${certextract{subject}{$tls_out_peercert}}}}{}{}}")
ACTION = ("${if eq{$event_name}{tls:cert}{%s%s}{${if eq{$event_name}{msg:delivery}{%s}{}}}}"
          % (RECORD_CERT, REFUSE, RECORD_DELIVERY))


def _transport(name, bundle, verify_option, rip, rport):
    return ("%s:\n  driver = smtp\n  port = %d\n  %s = *\n  tls_verify_certificates = %s\n"
            "  tls_verify_cert_hostnames = *\n  event_action = %s\n"
            % (name, spatetest.SINK_PORT, verify_option, bundle, ACTION))


def _log_lines(env, rx, n, timeout=40):
    return wait_for(lambda: len(env.log_grep(rx)) >= n and env.log_grep(rx), timeout, 0.2,
                    what="%d lines /%s/; log tail:\n%s" % (n, rx, "\n".join(env.main_log()[-15:])))


def _chain_events(certs, domain):
    return [tuple(e.split("|")[1:]) for e in certs if e.startswith(domain + "|")]


def test_tls_cert_event_per_chain_certificate_and_refusal():
    """d1 verify-required + refusal: deferred, nothing received; d2
    try-verify + refusal: delivered CV=no; d3 verify-required, no refusal:
    delivered CV=yes. Each connection raised tls:cert for depths 2 (root),
    1 (intermediate), 0 (leaf), in that order, each with its own certificate."""
    with Env("tls-cert-event") as env:
        pki = {k: env.make_certs(k) for k in (1, 2, 3)}
        bundle = env.path("ca-bundle.pem")
        with open(bundle, "w") as f:
            for k in sorted(pki):
                f.write(open(pki[k]["ca"]).read())
        env.start_dns(env.mx_zone(3))
        sinks = {k: env.start_tls_sink(env.sink_ip(k), pki[k]["right_chain"], pki[k]["right_key"])
                 for k in pki}
        rip, rport = _redis(env)
        transports = (_transport("verify_smtp", bundle, "tls_verify_hosts", rip, rport)
                      + _transport("try_smtp", bundle, "tls_try_verify_hosts", rip, rport))
        routers = ("try:\n  driver = dnslookup\n  domains = d2.%s\n  transport = try_smtp\n"
                   "dnslookup:\n  driver = dnslookup\n  transport = verify_smtp\n" % TLD)
        env.start_spated(env.write_config(extra_main="redis_servers = %s::%d//\n" % (rip, rport),
                                          routers=routers, transports=transports, retry=RETRY))
        rcpt = {k: "u%d@d%d.%s" % (k, k, TLD) for k in pki}
        for k in pki:
            code, text = spatetest.smtp_send(
                env.spated_ip, spatetest.SMTP_PORT, SENDER, [rcpt[k]],
                b"Subject: cert events\r\n\r\nbody for %s\r\n" % rcpt[k].encode())
            assert code == 250, (rcpt[k], code, text)

        line2 = _log_lines(env, r" => %s " % re.escape(rcpt[2]), 1)[0]
        assert re.search(r" X=TLS1\.[23]:\S+ CV=no ", line2), line2
        line3 = _log_lines(env, r" => %s " % re.escape(rcpt[3]), 1)[0]
        assert re.search(r" X=TLS1\.[23]:\S+ CV=yes ", line3), line3
        defers = _log_lines(env, r" == %s " % re.escape(rcpt[1]), 2)
        assert any(re.search(r"refused at depth 0", l) for l in defers), defers
        assert not env.log_grep(r" => %s " % re.escape(rcpt[1]))
        assert sinks[1].count() == 0
        for k in (2, 3):
            msgs = sinks[k].wait_messages(1)
            assert len(msgs) == 1 and msgs[0][0]["rcpt_to"] == [rcpt[k]], msgs

        certs = _list(rip, rport, "certs")
        for k in pki:
            d = "d%d.%s" % (k, TLD)
            want = [("2", "CN=Spate Test Root", "CN=Spate Test Root"),
                    ("1", "CN=Spate Test Intermediate", "CN=Spate Test Root"),
                    ("0", "CN=mx.%s" % d, "CN=Spate Test Intermediate")]
            got = _chain_events(certs, d)
            if k == 1:  # one chain per attempt, refused at the leaf each time
                n = len(got) // 3
                assert n >= 2 and got[:3 * n] == want * n, got
            else:
                assert got == want, (d, got)
        wait_for(lambda: len(_list(rip, rport, "deliveries")) == 2, 20, 0.2,
                 what="two msg:delivery records")
        deliveries = sorted(_list(rip, rport, "deliveries"))
        assert deliveries == ["d2.%s|optional|CN=mx.d2.%s" % (TLD, TLD),
                              "d3.%s|required|CN=mx.d3.%s" % (TLD, TLD)], deliveries


spatetest.main(globals())

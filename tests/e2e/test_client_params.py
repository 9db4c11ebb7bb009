"""The parameters of the outbound MAIL and RCPT commands follow what the
receiver advertised (RFC 5321 4.1.1.11), each against a spate-sink that
offers the extension and one that does not (the sink answers 555 to a
parameter of an extension it left out, and records those it accepts):
SIZE, SMTPUTF8 (RFC 6531 3.2: a message that needs it goes to another MX,
or bounces with 5.6.7), DSN's NOTIFY/ORCPT/RET/ENVID (RFC 3461), and RSET
on a reused connection waiting for its reply without PIPELINING."""

import json
import socket
import time

import spatetest
from spatetest import Env, wait_for

TLD = spatetest.TLD
BODY = "Subject: params\r\n\r\nhello\r\n"
UTF8_RCPT = "j\u00fcrgen@d1.%s" % TLD


def _inject(env, sender, rcpts, dsn=None):
    obj = {"envelope_sender": sender, "recipients": rcpts, "content": BODY}
    if dsn is not None:
        obj["dsn"] = dsn
    status, body = spatetest.http_inject(env.http_url + "/api/v1/inject", obj)
    assert status == 200, (status, body)
    return body["ids"][0]


def _start(env, sink_args, mx=1):
    env.start_dns(env.mx_zone(mx))
    sink = env.start_spate_sink(env.sink_addrs(mx), extra_args=sink_args)
    env.start_spated(env.write_config())
    return sink


def _notice(m):
    """Is this stored message a delivery status notification from spate?"""
    return m[0]["mail_from"] == "" and b"report-type=delivery-status" in m[1]


def _one_message(env, sink, sender, rcpts, dsn=None):
    _inject(env, sender, rcpts, dsn)
    wait_for(lambda: env.log_grep(r" Completed$"), 20, what="Completed")
    msgs = [m for m in sink.messages() if not _notice(m)]  # not spate's own notices
    assert len(msgs) == 1, msgs
    return msgs[0][0]


def test_size_sent_when_advertised():
    with Env("params-size") as env:
        sink = _start(env, [])
        e = _one_message(env, sink, "s@d1.%s" % TLD, ["a@d1.%s" % TLD])
        assert "SIZE=" in e["mail_params"], e


def test_size_absent_when_not_advertised():
    with Env("params-nosize") as env:
        sink = _start(env, ["--no-size"])
        e = _one_message(env, sink, "s@d1.%s" % TLD, ["a@d1.%s" % TLD])
        assert "SIZE" not in e["mail_params"], e


def test_smtputf8_sent_for_a_utf8_recipient():
    with Env("params-utf8") as env:
        sink = _start(env, [])
        e = _one_message(env, sink, "", [UTF8_RCPT])
        assert "SMTPUTF8" in e["mail_params"].split(), e
        assert e["rcpt_to"] == [UTF8_RCPT], e


def test_smtputf8_not_sent_for_an_ascii_message():
    with Env("params-ascii") as env:
        sink = _start(env, [])
        e = _one_message(env, sink, "s@d1.%s" % TLD, ["a@d1.%s" % TLD])
        assert "SMTPUTF8" not in e["mail_params"], e


def test_utf8_recipient_bounces_567_without_smtputf8():
    with Env("params-noutf8") as env:
        sink = _start(env, ["--no-smtputf8"])
        _inject(env, "", [UTF8_RCPT])
        wait_for(lambda: env.log_grep(r" Completed$"), 20, what="Completed")
        failed = env.log_grep(r" \*\* j\S+@d1\.")
        assert failed and " 5.6.7 " in failed[0], env.main_log()[-5:]
        assert sink.count() == 0
        assert not env.log_grep(r" => ")


def test_utf8_recipient_goes_to_the_mx_that_offers_smtputf8():
    with Env("params-utf8-mx") as env:
        primary, backup = env.ip(2, 1), env.ip(2, 2)
        env.start_dns(env.two_mx("twomx", primary=primary, backup=backup))
        first = env.start_spate_sink(["%s:%d" % (primary, spatetest.SINK_PORT)],
                                     extra_args=["--no-smtputf8"])
        second = env.start_spate_sink(["%s:%d" % (backup, spatetest.SINK_PORT)])
        env.start_spated(env.write_config())
        _inject(env, "", ["j\u00fcrgen@twomx.%s" % TLD])
        wait_for(lambda: env.log_grep(r" => j\S+@twomx\."), 20,
                 what="delivery through the backup MX")
        line = env.log_grep(r" => j\S+@twomx\.")[0]
        assert "[%s]:" % backup in line, line
        assert first.count() == 0
        assert "SMTPUTF8" in second.messages()[0][0]["mail_params"].split()


DSN = {"notify": "SUCCESS,FAILURE", "ret": "HDRS", "envid": "env+id-1",
       "orcpt": {"a@d1.%s" % TLD: "rfc822;orig@example.net"}}


def test_dsn_orcpt_added_when_absent():
    with Env("params-dsn-orcpt") as env:
        sink = _start(env, [])
        e = _one_message(env, sink, "s@d1.%s" % TLD, ["b+x=y@d1.%s" % TLD])
        # RFC 3461 4.2: the address as received, xtext-encoded
        assert e["rcpt_params"] == ["ORCPT=rfc822;b+2Bx+3Dy@d1.%s" % TLD], e
        assert "RET=" not in e["mail_params"] and "ENVID=" not in e["mail_params"], e


def test_dsn_parameters_passed_on_unchanged():
    with Env("params-dsn") as env:
        sink = _start(env, [])
        e = _one_message(env, sink, "s@d1.%s" % TLD, ["a@d1.%s" % TLD, "b@d1.%s" % TLD], DSN)
        params = dict(zip(e["rcpt_to"], e["rcpt_params"]))
        assert params["a@d1.%s" % TLD] == \
            "NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;orig@example.net", e
        assert params["b@d1.%s" % TLD] == "NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;b@d1.%s" % TLD
        words = e["mail_params"].split()
        assert "RET=HDRS" in words and "ENVID=env+2Bid-1" in words, e
        # relay semantics: the next hop took the request, so spate sends no success DSN
        time.sleep(0.5)
        assert [m for m in sink.messages() if _notice(m)] == []


def test_dsn_parameters_not_sent_without_dsn():
    with Env("params-nodsn") as env:
        sink = _start(env, ["--no-dsn"])
        e = _one_message(env, sink, "s@d1.%s" % TLD, ["a@d1.%s" % TLD], DSN)
        assert e["rcpt_params"] == [""], e
        for word in ("RET=", "ENVID=", "NOTIFY=", "ORCPT="):
            assert word not in e["mail_params"], e
        # the request stayed with spate: NOTIFY=SUCCESS gets a "relayed" report from it
        wait_for(lambda: [m for m in sink.messages() if _notice(m)], 10, what="the success DSN")
        dsn = [m for m in sink.messages() if _notice(m)][0][1]
        assert b"Action: relayed" in dsn, dsn


def _stats(sink):
    wait_for(lambda: sink.stats().get("messages") == sink.count(), 5, what="fresh sink stats")
    return sink.stats()


def test_sink_counts_pipelined_input_without_pipelining():
    """The check below can fail: the sink sees a client that does not wait."""
    with Env("params-sink-pipe") as env:
        sink = env.start_spate_sink(env.sink_addrs(1), extra_args=["--no-pipelining"])
        host, port = spatetest.split_addr(sink.addrs[0])
        with socket.create_connection((host, port), timeout=10) as s:
            f = s.makefile("rb")
            f.readline()
            s.sendall(b"EHLO x\r\n")
            while f.readline()[3:4] == b"-":
                pass
            s.sendall(b"RSET\r\nMAIL FROM:<>\r\n")
            assert f.readline().startswith(b"250") and f.readline().startswith(b"250")
            s.sendall(b"QUIT\r\n")
            f.readline()
        wait_for(lambda: sink.stats().get("pipelining_violations") == 1, 5,
                 what="pipelining_violations 1 in %s" % json.dumps(sink.stats()))


def test_reused_connection_does_not_pipeline_rset_without_pipelining():
    with Env("params-rset") as env:
        sink = _start(env, ["--no-pipelining"])
        for i in range(3):
            _inject(env, "s@d1.%s" % TLD, ["r%d@d1.%s" % (i, TLD)])
            wait_for(lambda: len(env.log_grep(r" Completed$")) == i + 1, 20,
                     what="message %d" % (i + 1))
        st = _stats(sink)
        assert st["connections_total"] == 1, st  # the connection was reused (RSET)
        assert st["max_messages_per_connection"] == 3, st
        assert st["pipelining_violations"] == 0, st


spatetest.main(globals())

"""The outbound SMTP client against receivers with different capabilities:
pipelining on and off, several recipients per transaction up to max_rcpt,
CHUNKING/BDAT, the receiver's SIZE limit, a 554 after DATA, and falling back
to the next MX host when the first does not answer."""

import spatetest
from spatetest import Env, canonical, strip_trace_headers, wait_for

TLD = spatetest.TLD
BODY = (b"Subject: client test\r\n\r\n.a line with a leading dot\r\n..two dots\r\n"
        b".\r\nend\r\n")


def _send(env, sender, rcpts, data=BODY):
    code, text = spatetest.smtp_send(env.spated_ip, spatetest.SMTP_PORT, sender, rcpts, data)
    assert code == 250, (code, text)


def _run(env, sink_args, transport_extra="", rcpts=5, max_rcpt=None):
    env.start_dns(env.mx_zone(1))
    sink = env.start_spate_sink(env.sink_addrs(1), extra_args=sink_args)
    transports = "remote_smtp:\n  driver = smtp\n  port = %d\n%s%s" % (
        spatetest.SINK_PORT, transport_extra,
        "  max_rcpt = %d\n" % max_rcpt if max_rcpt else "")
    env.start_spated(env.write_config(transports=transports))
    _send(env, "s@x.%s" % TLD, ["r%d@d1.%s" % (i, TLD) for i in range(rcpts)])
    wait_for(lambda: env.log_grep(r" Completed$"), 20, what="Completed")
    return sink


def test_pipelined_transaction_with_several_recipients():
    with Env("client-pipelining") as env:
        sink = _run(env, [])
        msgs = sink.messages()
        assert len(msgs) == 1  # one transaction for all five recipients
        assert msgs[0][0]["transfer"] == "DATA"
        assert len(msgs[0][0]["rcpt_to"]) == 5
        assert strip_trace_headers(msgs[0][1]) == canonical(BODY)  # dots undone on the wire


def test_without_pipelining():
    with Env("client-nopipe") as env:
        sink = _run(env, ["--no-pipelining"])
        msgs = sink.messages()
        assert len(msgs) == 1 and len(msgs[0][0]["rcpt_to"]) == 5
        assert strip_trace_headers(msgs[0][1]) == canonical(BODY)


def test_max_rcpt_splits_transactions():
    with Env("client-maxrcpt") as env:
        sink = _run(env, [], rcpts=5, max_rcpt=2)
        sizes = sorted(len(e["rcpt_to"]) for e, _ in sink.messages())
        assert sizes == [1, 2, 2], sizes
        assert len(env.log_grep(r" => r\d@d1")) == 5


def test_bdat_when_offered_and_enabled():
    with Env("client-bdat") as env:
        sink = _run(env, ["--chunking"], transport_extra="  chunking\n")
        msgs = sink.messages()
        assert len(msgs) == 1 and len(msgs[0][0]["rcpt_to"]) == 5
        # BDAT carries the bytes as they are: no dot-stuffing to undo
        assert strip_trace_headers(msgs[0][1]) == canonical(BODY)
        assert msgs[0][0]["transfer"] == "BDAT", msgs[0][0]


def test_bdat_not_used_unless_enabled():
    with Env("client-nobdat") as env:
        sink = _run(env, ["--chunking"])
        e, data = sink.messages()[0]
        assert strip_trace_headers(data) == canonical(BODY)
        assert e["transfer"] == "DATA", e


def test_receivers_size_limit_is_honoured():
    with Env("client-size") as env:
        env.start_dns(env.mx_zone(1))
        sink = env.start_spate_sink(env.sink_addrs(1), extra_args=["--size", "1000"])
        env.start_spated(env.write_config())
        _send(env, "s@d1.%s" % TLD, ["big@d1.%s" % TLD],
              b"Subject: big\r\n\r\n" + (b"x" * 70 + b"\r\n") * 43)
        _send(env, "s@d1.%s" % TLD, ["small@d1.%s" % TLD], b"Subject: small\r\n\r\nok\r\n")
        wait_for(lambda: len(env.log_grep(r" Completed$")) == 3, 20, what="2 messages + notice")
        failed = env.log_grep(r" \*\* big@d1\.")
        assert failed and "SIZE limit of 1000" in failed[0], failed
        rcpts = [e["rcpt_to"][0] for e, _ in sink.messages()]
        assert "big@d1.%s" % TLD not in rcpts and "small@d1.%s" % TLD in rcpts, rcpts


def test_reply_after_data_applies_to_every_accepted_recipient():
    with Env("client-datafail") as env:
        env.start_dns(env.mx_zone(2))
        sink = env.start_spate_sink(env.sink_addrs(2))
        env.start_spated(env.write_config())
        _send(env, "", ["datafail@d1.%s" % TLD, "ok@d1.%s" % TLD, "permfail@d1.%s" % TLD])
        wait_for(lambda: env.log_grep(r" Completed$"), 20, what="Completed")
        assert env.log_grep(r" \*\* datafail@d1\.\S+ .*after end of data: 554 ")
        assert env.log_grep(r" \*\* ok@d1\.\S+ .*after end of data: 554 ")
        assert env.log_grep(r" \*\* permfail@d1\.\S+ .*after RCPT TO:<permfail@d1\.\S+>: 550 ")
        assert sink.count() == 0


def test_next_mx_is_used_when_the_first_does_not_answer():
    with Env("client-mxfallback") as env:
        primary, backup = env.ip(2, 1), env.ip(2, 2)
        env.start_dns(env.two_mx("twomx", primary=primary, backup=backup))
        sink = env.start_spate_sink(["%s:%d" % (backup, spatetest.SINK_PORT)])
        env.start_spated(env.write_config())
        _send(env, "", ["a@twomx.%s" % TLD])
        wait_for(lambda: sink.count() == 1, 20, what="delivery through the backup MX")
        line = env.log_grep(r" => a@twomx\.")[0]
        assert "[%s]:" % backup in line, line
        assert not env.log_grep(r" == a@twomx")


spatetest.main(globals())

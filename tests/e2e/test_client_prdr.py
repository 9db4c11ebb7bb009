"""spate as a PRDR client (seed "PRDR support", hosts_try_prdr) against
spate-sink's PRDR mode: after the data the sink answers 353, then one reply
per recipient (refusing or deferring those named on its command line), then
a final reply; each recipient's own reply decides it and gets its own log
line. Also: no PRDR for one recipient, for a host outside hosts_try_prdr,
or to a server that does not offer it; a plain reply to the data (no 353)
is handled as without PRDR; PRDR after BDAT."""

import spatetest
from spatetest import Env, wait_for

TLD = spatetest.TLD
BODY = b"Subject: prdr\r\n\r\nhello\r\n"


def _addr(local):
    return "%s@d1.%s" % (local, TLD)


def _run(env, sink_args, rcpts, transport_extra=""):
    env.start_dns(env.mx_zone(1))
    sink = env.start_spate_sink(env.sink_addrs(1), extra_args=sink_args)
    transports = "remote_smtp:\n  driver = smtp\n  port = %d\n%s" % (
        spatetest.SINK_PORT, transport_extra)
    env.start_spated(env.write_config(transports=transports))
    code, text = spatetest.smtp_send(env.spated_ip, spatetest.SMTP_PORT, "", rcpts, BODY)
    assert code == 250, (code, text)
    wait_for(lambda: env.log_grep(r" (Completed|== \S+ .*PRDR)"), 20, what="results")
    return sink


def test_prdr_refusal_of_one_recipient():
    with Env("prdr-refuse") as env:
        rcpts = [_addr("ok1"), _addr("bad"), _addr("ok2")]
        sink = _run(env, ["--prdr-refuse", _addr("bad")], rcpts)
        msgs = sink.messages()
        assert len(msgs) == 1, msgs
        e = msgs[0][0]
        assert "PRDR" in e["mail_params"].split(), e
        assert e["rcpt_to"] == [_addr("ok1"), _addr("ok2")], e
        for ok in ("ok1", "ok2"):
            line = env.log_grep(r" => %s@d1\." % ok)
            assert line and 'C="250 PRDR R=<%s> acceptance"' % _addr(ok) in line[0], line
        failed = env.log_grep(r" \*\* bad@d1\.")
        assert failed and "550 PRDR R=<%s> refusal" % _addr("bad") in failed[0], failed
        assert len(env.log_grep(r" (=>|\*\*|==) ")) == 3


def test_prdr_temporary_refusal_defers_that_recipient():
    with Env("prdr-defer") as env:
        rcpts = [_addr("ok1"), _addr("later")]
        sink = _run(env, ["--prdr-defer", _addr("later")], rcpts)
        wait_for(lambda: env.log_grep(r" == later@d1\."), 20, what="deferral")
        line = env.log_grep(r" == later@d1\.")[0]
        assert "450 PRDR R=<%s> temporary refusal" % _addr("later") in line, line
        assert env.log_grep(r" => ok1@d1\.")
        assert sink.messages()[0][0]["rcpt_to"] == [_addr("ok1")]


def test_prdr_refusal_of_every_recipient():
    with Env("prdr-all") as env:
        rcpts = [_addr("bad1"), _addr("bad2")]
        sink = _run(env, ["--prdr-refuse", _addr("bad1"), "--prdr-refuse", _addr("bad2")],
                    rcpts)
        for bad in ("bad1", "bad2"):  # each keeps its own refusal, not the final reply
            failed = env.log_grep(r" \*\* %s@d1\." % bad)
            assert failed and "550 PRDR R=<%s> refusal" % _addr(bad) in failed[0], failed
        assert sink.count() == 0
        assert len(env.log_grep(r" (=>|\*\*|==) ")) == 2


def test_final_refusal_overrides_the_acceptances():
    with Env("prdr-final") as env:
        # the sink accepts both on their own, then refuses the message (554)
        rcpts = [_addr("ok1"), _addr("datafail"), _addr("bad")]
        sink = _run(env, ["--prdr-refuse", _addr("bad")], rcpts)
        for who in ("ok1", "datafail"):
            failed = env.log_grep(r" \*\* %s@d1\.\S+ .*after end of data: 554 " % who)
            assert failed, env.main_log()[-6:]
        assert env.log_grep(r" \*\* bad@d1\.\S+ .*550 PRDR R=<%s> refusal" % _addr("bad"))
        assert sink.count() == 0


def test_prdr_after_bdat():
    with Env("prdr-bdat") as env:
        rcpts = [_addr("ok1"), _addr("bad")]
        sink = _run(env, ["--chunking", "--prdr-refuse", _addr("bad")], rcpts,
                    transport_extra="  chunking\n")
        e = sink.messages()[0][0]
        assert e["transfer"] == "BDAT" and e["rcpt_to"] == [_addr("ok1")], e
        assert env.log_grep(r" \*\* bad@d1\.\S+ .*550 PRDR R=")


def test_no_prdr_for_a_single_recipient():
    with Env("prdr-single") as env:
        sink = _run(env, ["--prdr-refuse", _addr("bad")], [_addr("bad")])
        e = sink.messages()[0][0]
        assert "PRDR" not in e["mail_params"], e  # so the sink did not refuse it
        assert env.log_grep(r" => bad@d1\.")


def test_no_prdr_outside_hosts_try_prdr():
    with Env("prdr-hosts") as env:
        rcpts = [_addr("ok1"), _addr("bad")]
        sink = _run(env, ["--prdr-refuse", _addr("bad")], rcpts,
                    transport_extra="  hosts_try_prdr = 192.0.2.1\n")
        e = sink.messages()[0][0]
        assert "PRDR" not in e["mail_params"] and len(e["rcpt_to"]) == 2, e
        assert len(env.log_grep(r" => ")) == 2


def test_no_prdr_to_a_server_without_it():
    with Env("prdr-notoffered") as env:
        sink = _run(env, [], [_addr("a"), _addr("b")])  # the sink would answer PRDR with 555
        e = sink.messages()[0][0]
        assert "PRDR" not in e["mail_params"] and len(e["rcpt_to"]) == 2, e


def test_plain_reply_to_the_data_is_handled_without_prdr():
    with Env("prdr-plain") as env:
        # one recipient left after RCPT: the sink answers the data without 353
        sink = _run(env, ["--prdr-refuse", _addr("bad")], [_addr("ok1"), _addr("permfail")])
        e = sink.messages()[0][0]
        assert "PRDR" in e["mail_params"].split() and e["rcpt_to"] == [_addr("ok1")], e
        line = env.log_grep(r" => ok1@d1\.")
        assert line and 'C="250 2.0.0 Ok: queued as' in line[0], line
        assert env.log_grep(r" \*\* permfail@d1\.\S+ .*after RCPT TO:")


spatetest.main(globals())

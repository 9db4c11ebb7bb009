"""Helpers of the DSN tests: a delivery status notification parsed back with
Python's email package (an independent MIME parser), and the structure of the
real bounces in the corpus to compare with."""

import email
import email.utils
import spatetest_base


def parse(data):
    """(message, text part, [per-message fields, per-recipient blocks...], original part)"""
    m = email.message_from_bytes(data)
    assert m.get_content_type() == "multipart/report", m.get_content_type()
    assert m.get_param("report-type") == "delivery-status", m["Content-Type"]
    parts = m.get_payload()
    assert len(parts) == 3, [p.get_content_type() for p in parts]
    assert parts[0].get_content_type() == "text/plain"
    assert parts[1].get_content_type() in ("message/delivery-status",
                                           "message/global-delivery-status")
    blocks = parts[1].get_payload()
    assert len(blocks) >= 2, blocks
    return m, parts[0], blocks, parts[2]


def by_rcpt(blocks):
    """{final recipient address: block} of the per-recipient blocks"""
    return {b["Final-Recipient"].split(";", 1)[1].strip(): b for b in blocks[1:]}


def is_date(value):
    """an RFC 5322 date the email package can read"""
    return value is not None and email.utils.parsedate_to_datetime(value) is not None


def notices(sink):
    """[(envelope, bytes)] the sink got from the null sender"""
    return [(e, d) for e, d in sink.messages() if e["mail_from"] == ""]


def corpus_report_shapes():
    """The part types of the corpus's multipart/report bounces (RFC 3464 ones)"""
    shapes = set()
    for name, data in spatetest_base.bounce_messages():
        m = email.message_from_bytes(data)
        if m.get_content_type() == "multipart/report" and m.is_multipart() and \
                m.get_param("report-type") == "delivery-status":
            shapes.add(tuple(p.get_content_type() for p in m.get_payload()))
    return shapes

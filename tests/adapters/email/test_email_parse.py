"""Reading single mails: auto-reply kinds, threading headers, broken mail."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from adapters.email.parse import base_subject, parse_mail

ARRIVED = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def raw(headers: str, body: str = "Hello") -> bytes:
    return (headers.strip() + "\n\n" + body + "\n").encode()


HUMAN = """
From: Ada Lovelace <Ada@ACME.example>
To: support@help.example
Subject: Re: [#m1234567890] AW: Printer broken
Date: Mon, 02 Nov 2026 10:15:00 +0100
Message-ID: <r2@acme.example>
In-Reply-To: <r1@help.example>
References: <r0@acme.example> <r1@help.example>
"""


def test_a_human_reply():
    mail = parse_mail(raw(HUMAN), "INBOX/1", ARRIVED)
    assert (mail.message_id, mail.in_reply_to, mail.references) == (
        "r2@acme.example",
        ["r1@help.example"],
        ["r0@acme.example", "r1@help.example"],
    )
    assert (mail.from_addr, mail.from_name) == ("ada@acme.example", "Ada Lovelace")
    assert mail.date == datetime(2026, 11, 2, 9, 15, tzinfo=UTC)
    assert (mail.token, mail.base_subject, mail.auto, mail.warnings) == ("m1234567890", "printer broken", None, [])


@pytest.mark.parametrize(
    "subject, base",
    [
        ("Re: Re: Printer", "printer"),
        ("Fwd: printer", "printer"),
        ("AW: WG: Drucker", "drucker"),
        ("SV: Skrivare", "skrivare"),
        ("Antw: Printer", "printer"),
        ("Re[2]: Printer", "printer"),
        ("[EXTERN] Re: Printer  broken", "printer broken"),
        ("Printer [#m1] broken", "printer broken"),
    ],
)
def test_base_subject(subject, base):
    assert base_subject(subject) == base


@pytest.mark.parametrize(
    "extra, reason",
    [
        ("Auto-Submitted: auto-replied", "auto-submitted=auto-replied"),
        ("Precedence: bulk", "precedence=bulk"),
        ("Return-Path: <>", "null return-path"),
        ("X-Autoreply: yes", "x-autoreply"),
        ("List-Id: <news.example>", "list-id"),
    ],
)
def test_auto_replies_by_header(extra, reason):
    assert parse_mail(raw(HUMAN + extra), "INBOX/2", ARRIVED).auto == reason


def test_bounces_and_out_of_office_without_headers():
    bounce = raw(
        """
From: Mail Delivery System <MAILER-DAEMON@mx.example>
To: support@help.example
Subject: Undelivered Mail Returned to Sender
Message-ID: <b1@mx.example>
Date: Mon, 02 Nov 2026 10:15:00 +0100
Content-Type: multipart/report; report-type=delivery-status; boundary="x"
""",
        "--x\nContent-Type: text/plain\n\ngone\n--x--",
    )
    assert parse_mail(bounce, "INBOX/3", ARRIVED).auto == "report:delivery-status"
    outlook = raw(HUMAN.replace("Re: [#m1234567890] AW: Printer broken", "Automatic reply: Printer broken"))
    assert parse_mail(outlook, "INBOX/4", ARRIVED).auto == "auto-reply subject"
    # the suppress header asks others not to auto-reply; it does not make this mail automatic
    assert parse_mail(raw(HUMAN + "X-Auto-Response-Suppress: All"), "INBOX/5", ARRIVED).auto is None


def test_missing_date_and_message_id_fall_back_and_say_where():
    mail = parse_mail(raw("From: a@b.example\nSubject: hi"), "INBOX/77", ARRIVED)
    assert mail.date == ARRIVED and mail.message_id == "no-id.INBOX/77"
    assert mail.warnings == [
        "INBOX/77: no Message-ID; using no-id.INBOX/77",
        "INBOX/77: no Date; using the time it arrived",
    ]
    broken = parse_mail(raw(HUMAN.replace("Mon, 02 Nov 2026 10:15:00 +0100", "yesterday-ish")), "INBOX/78", ARRIVED)
    assert broken.date == ARRIVED and "INBOX/78: Date 'yesterday-ish' is unreadable" in broken.warnings[0]


def test_undecodable_mail_becomes_a_best_effort_message():
    data = (
        b"From: =?x-unknown?q?broken?= <s@odd.example>\nSubject: =?utf-8?b?not base64!?=\n"
        b"Date: Mon, 02 Nov 2026 10:15:00 +0100\nMessage-ID: <x1@odd.example>\n"
        b"Content-Type: text/plain; charset=x-unknown\n\n\xff\xfe\n"
    )
    mail = parse_mail(data, "INBOX/9", ARRIVED)
    assert mail.message_id == "x1@odd.example" and mail.from_addr == "s@odd.example"
    assert mail.date == datetime(2026, 11, 2, 9, 15, tzinfo=UTC)


def test_priority_headers():
    assert parse_mail(raw(HUMAN + "Importance: High"), "a", ARRIVED).important
    assert parse_mail(raw(HUMAN + "X-Priority: 1 (Highest)"), "b", ARRIVED).important
    assert not parse_mail(raw(HUMAN + "X-Priority: 3"), "c", ARRIVED).important


def test_nul_bytes_an_undecodable_header_and_no_from_warn_with_the_place():
    data = b"Subject: Gr\xfc\xdfe\nMessage-ID: <n1@x.example>\nDate: Mon, 02 Nov 2026 10:00:00 +0000\n\nhi\x00there\n"
    mail = parse_mail(data, "INBOX/41", ARRIVED)
    assert mail.subject == "Grüße" and mail.from_addr == ""
    assert mail.warnings == [
        "INBOX/41: NUL bytes in the mail; left out",
        "INBOX/41: no From address; the sender is unknown",
        "INBOX/41: header Subject is neither UTF-8 nor encoded (RFC 2047); read as Latin-1",
    ]


def test_raw_utf8_headers_are_read_without_a_warning():
    data = "From: Jörg <j@x.example>\nSubject: Grüße\nMessage-ID: <n2@x.example>\n".encode() + b"\nhi\n"
    mail = parse_mail(data, "INBOX/42", ARRIVED)
    assert (mail.from_name, mail.subject, mail.warnings) == (
        "Jörg",
        "Grüße",
        ["INBOX/42: no Date; using the time it arrived"],
    )

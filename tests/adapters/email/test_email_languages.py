"""Replies in every language join their conversation: the prefixes mail clients write, with
counters and in combination, and the ones a team adds in `[email] reply_prefixes`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from adapters.email.parse import parse_mail, prefix_pattern
from adapters.email.threads import Envelope, Roles, build_threads
from tests.support.mail_factory import build_mail

SENT = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
ROLES = Roles(frozenset({"support@help.example"}), frozenset({"help.example"}), "Sent")

# (client and language, the subject its reply button writes to "Drucker kaputt / 打印机")
REPLIES = [
    ("Outlook English", "RE: {s}"),
    ("Gmail English forward", "Fwd: {s}"),
    ("Outlook German", "AW: {s}"),
    ("Outlook German forward", "WG: {s}"),
    ("Outlook Swedish / Norwegian / Danish", "SV: {s}"),
    ("Outlook Finnish", "VS: {s}"),
    ("Outlook Finnish forward", "VB: {s}"),
    ("Outlook Dutch", "Antw: {s}"),
    ("Outlook Dutch forward", "Doorst: {s}"),
    ("Outlook Italian", "R: {s}"),
    ("Thunderbird Italian", "Rif: {s}"),
    ("Outlook Italian forward", "I: {s}"),
    ("Outlook Polish", "Odp: {s}"),
    ("Outlook Spanish forward", "RV: {s}"),
    ("Outlook Croatian", "Odg: {s}"),
    ("Outlook Hungarian", "Vá: {s}"),
    ("Outlook Hungarian forward", "Továbbítás: {s}"),
    ("Outlook Turkish", "YNT: {s}"),
    ("Outlook Turkish forward", "İLT: {s}"),
    ("Outlook Portuguese", "RES: {s}"),
    ("Outlook Portuguese forward", "ENC: {s}"),
    ("Outlook Greek", "Απ: {s}"),
    ("Outlook Greek, upper case", "ΑΠ: {s}"),
    ("Outlook Greek, older", "Σχετ: {s}"),
    ("Outlook Russian forward", "ПЕР: {s}"),
    ("Outlook Russian", "Ответ: {s}"),
    ("Mail.ru", "Отв: {s}"),
    ("Outlook Chinese (simplified)", "回复: {s}"),
    ("Foxmail, full-width colon", "回复：{s}"),
    ("Outlook Chinese (traditional)", "回覆: {s}"),
    ("Chinese answer", "答复: {s}"),
    ("Chinese forward", "转发: {s}"),
    ("Traditional Chinese forward", "轉寄: {s}"),
    ("Outlook Japanese", "返信: {s}"),
    ("Outlook Japanese forward", "転送: {s}"),
    ("Outlook Korean", "회신: {s}"),
    ("Korean answer", "답장: {s}"),
    ("Korean forward", "전달: {s}"),
    ("Outlook Arabic", "رد: {s}"),
    ("Arabic forward", "تحويل: {s}"),
    ("Outlook Hebrew", "תשובה: {s}"),
    ("Outlook French", "Réf: {s}"),
    ("Outlook French forward", "TR: {s}"),
    ("counter, brackets", "Re[2]: {s}"),
    ("counter, caret", "RE^2: {s}"),
    ("a forward of a reply, lower case", "fwd: aw: re: {s}"),
    ("a list tag and mixed prefixes", "[support] AW: Re[3]: {s}"),
]


def envelope(key: str, sender: str, subject: str, when: datetime, ident: str, folder="INBOX", prefixes=None):
    raw = build_mail(sender, subject, when, ident)  # no In-Reply-To, no References: by subject alone
    extra = {} if prefixes is None else {"prefixes": prefixes}
    return Envelope(key, folder, frozenset(), when, parse_mail(raw, key, when, **extra))


@pytest.mark.parametrize("subject", ["Drucker kaputt", "打印机坏了"])
@pytest.mark.parametrize(("client", "written"), REPLIES, ids=[client for client, _ in REPLIES])
def test_a_reply_without_references_joins_its_conversation(client, written, subject):
    first = envelope("INBOX/1", "Γιώργος <giorgos@kunde.example>", subject, SENT, "q1@kunde.example")
    reply = envelope("INBOX/2", "giorgos@kunde.example", written.format(s=subject), SENT + timedelta(hours=3), "q2@k")
    threads = build_threads([first, reply], ROLES, timedelta(days=14))
    assert [len(t.envelopes) for t in threads] == [2], f"{client}: {reply.mail.subject!r} started a new ticket"


def test_a_word_that_only_looks_like_a_prefix_is_kept():
    first = envelope("INBOX/1", "ada@acme.example", "Rechnung: November", SENT, "i1@acme.example")
    other = envelope("INBOX/2", "ada@acme.example", "November", SENT + timedelta(hours=1), "i2@acme.example")
    assert len(build_threads([first, other], ROLES, timedelta(days=14))) == 2


def test_reply_prefixes_from_the_config_are_added():
    pattern = prefix_pattern(["Svar", "Atb:"])
    first = envelope("INBOX/1", "jonas@kunde.example", "Printer", SENT, "l1@kunde.example", prefixes=pattern)
    reply = envelope(
        "INBOX/2", "jonas@kunde.example", "ATB: Svar: Printer", SENT + timedelta(hours=1), "l2@k", prefixes=pattern
    )
    assert [len(t.envelopes) for t in build_threads([first, reply], ROLES, timedelta(days=14))] == [2]
    default = envelope("INBOX/3", "jonas@kunde.example", "Atb: Printer", SENT, "l3@k")
    assert default.mail.base_subject == "atb: printer"

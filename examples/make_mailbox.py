"""Writes the sample support mailbox in examples/mailbox/ (a Maildir), the same every time.

    python examples/make_mailbox.py

Four weeks of a small support team (support@help.example, office hours in Berlin): questions
answered in time and late, follow-ups, mail at night and at weekends, a customer's out-of-office
reply, a bounce, conversations solved by moving them to Done, one waiting for the customer, an
urgent one, one with a broken header, and a few still unanswered.
"""

from __future__ import annotations

import os
import random
import shutil
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from zoneinfo import ZoneInfo

BERLIN = ZoneInfo("Europe/Berlin")
ROOT = Path(__file__).resolve().parent / "mailbox"
SUPPORT = "Help Desk <support@help.example>"
CUSTOMERS = [
    ("Ada Lovelace", "ada@acme.example"),
    ("Brian Kernighan", "bk@acme.example"),
    ("Grace Hopper", "grace@navy.example"),
    ("Linus Torvalds", "linus@kernel.example"),
    ("Margaret Hamilton", "mh@apollo.example"),
    ("Ken Thompson", "ken@bell.example"),
    ("Barbara Liskov", "liskov@mit.example"),
    ("Dennis Ritchie", "dmr@bell.example"),
]
TOPICS = [
    "Printer prints only blank pages",
    "Cannot log in to the portal",
    "Invoice 2026-118 is wrong",
    "VPN drops every hour",
    "Export to CSV fails",
    "Password reset mail never arrives",
    "Question about the new price list",
    "Dashboard is very slow",
    "Two-factor codes rejected",
    "Backup job reports an error",
    "How do I add a second user?",
    "Data import stuck at 99 %",
]
KEYWORDS = ["urgent", "pending"]  # dovecot-keywords: letter a = urgent, b = pending


class Mailbox:
    def __init__(self, root: Path):
        shutil.rmtree(root, ignore_errors=True)
        self.root, self.count = root, 0
        for folder in ("", ".Sent", ".Done"):
            for sub in ("cur", "new", "tmp"):
                (root / folder / sub).mkdir(parents=True, exist_ok=True)
            (root / folder / "dovecot-keywords").write_text("".join(f"{i} {k}\n" for i, k in enumerate(KEYWORDS)))
            for sub in ("new", "tmp"):  # git keeps no empty folders; dot files are not mail
                (root / folder / sub / ".keep").write_text("")

    def put(self, folder: str, message: EmailMessage | bytes, when: datetime, flags: str = "S") -> None:
        self.count += 1
        name = f"{int(when.timestamp())}.M{self.count:04d}P1.sample:2,{''.join(sorted(flags))}"
        path = self.root / folder / "cur" / name
        path.write_bytes(message if isinstance(message, bytes) else bytes(message))
        os.utime(path, (when.timestamp(), when.timestamp()))


def mail(
    sender: str, to: str, subject: str, when: datetime, ident: str, body: str, reply_to: list[str] = (), **headers: str
) -> EmailMessage:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = sender, to, subject
    message["Date"] = format_datetime(when)
    message["Message-ID"] = f"<{ident}@sample.example>"
    if reply_to:
        message["In-Reply-To"] = f"<{reply_to[-1]}@sample.example>"
        message["References"] = " ".join(f"<{r}@sample.example>" for r in reply_to)
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    message.set_content(body)
    return message


def office_time(rng: random.Random, day: datetime) -> datetime:
    return day.replace(hour=rng.randint(8, 16), minute=rng.randint(0, 59))


def main() -> None:
    rng = random.Random(2026)
    box = Mailbox(ROOT)
    start = datetime(2026, 10, 26, tzinfo=BERLIN)  # a Monday
    for n in range(30):
        name, address = CUSTOMERS[n % len(CUSTOMERS)]
        customer = f"{name} <{address}>"
        topic = TOPICS[n % len(TOPICS)]
        day = start + timedelta(days=rng.randint(0, 24) if n < 27 else 25 + n - 27)  # the unanswered are recent
        kind = n % 10
        if kind == 3:  # written on a Saturday night
            day = day - timedelta(days=day.weekday()) + timedelta(days=5)
            asked = day.replace(hour=22, minute=rng.randint(0, 59))
        else:
            asked = office_time(rng, day)
        ids = [f"t{n}-1"]
        flags = "Sa" if kind == 7 else "S"  # the urgent keyword
        if kind == 7:
            topic = "URGENT: " + topic
        inbox_folder = ".Done" if kind in (1, 5, 8) else ""  # solved by moving the conversation to Done
        box.put(
            inbox_folder, mail(customer, SUPPORT, topic, asked, ids[0], f"Hello,\n\n{topic}.\n\n{name}"), asked, flags
        )
        if n >= 27:  # the last ones: nobody has answered yet
            continue
        delay = timedelta(minutes=rng.choice([25, 50, 90, 150, 200, 420, 1500]))
        replied = asked + delay if kind != 3 else asked + timedelta(days=1, hours=11)
        box.put(
            ".Sent",
            mail(SUPPORT, customer, f"Re: {topic}", replied, f"t{n}-2", "Thanks, we are looking into it.", ids),
            replied,
        )
        ids.append(f"t{n}-2")
        if kind == 2:  # the customer is away: an auto-reply
            away = replied + timedelta(minutes=1)
            box.put(
                "",
                mail(
                    customer,
                    SUPPORT,
                    f"Automatic reply: Re: {topic}",
                    away,
                    f"t{n}-oof",
                    "I am out of the office until Monday.",
                    ids,
                    Auto_Submitted="auto-replied",
                ),
                away,
            )
        if kind in (0, 4, 6, 9):  # a follow-up question, answered later
            follow = replied + timedelta(hours=rng.randint(1, 30))
            waiting = "Sb" if kind == 6 else "S"  # tagged pending: waiting for the customer
            box.put(
                inbox_folder,
                mail(customer, SUPPORT, f"Re: {topic}", follow, f"t{n}-3", "One more question.", ids),
                follow,
                waiting,
            )
            ids.append(f"t{n}-3")
            answer = follow + timedelta(minutes=rng.choice([40, 200, 600]))
            box.put(".Sent", mail(SUPPORT, customer, f"Re: {topic}", answer, f"t{n}-4", "Here you go.", ids), answer)
    bounce = EmailMessage()
    bounce["From"] = "Mail Delivery System <MAILER-DAEMON@mx.help.example>"
    bounce["To"] = SUPPORT
    bounce["Subject"] = "Undelivered Mail Returned to Sender"
    bounce["Return-Path"] = "<>"
    bounced_at = start + timedelta(days=9, hours=11)
    bounce["Date"] = format_datetime(bounced_at)
    bounce["Message-ID"] = "<bounce-1@mx.help.example>"
    bounce.set_content("This is the mail system. The address gone@nowhere.example does not exist.")
    box.put("", bounce, bounced_at)
    broken_at = start + timedelta(days=16, hours=10)
    broken = (
        b"From: Unknown <=?x-unknown?q?broken?= sender@odd.example>\nTo: support@help.example\n"
        b"Subject: =?utf-8?b?not base64!?=\nDate: "
        + format_datetime(broken_at).encode()
        + b"\nMessage-ID: <broken-1@odd.example>\nContent-Type: text/plain; charset=x-unknown\n\n\xff\xfe broken body\n"
    )
    box.put("", broken, broken_at)
    print(f"wrote {box.count} messages to {ROOT}")


if __name__ == "__main__":
    main()

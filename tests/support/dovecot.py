"""A real Dovecot IMAP server on 127.0.0.1 for the tests: its own config, port and folder.

`Dovecot().start()`; `add_user()` gives a fresh, empty mailbox; `connect(user)` an independent imaplib connection for setting up and checking; `stop()`.
"""

from __future__ import annotations

import grp
import imaplib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time

BINARY = "/usr/sbin/dovecot"
PASSWORD = "secret"
USERS = 200

CONFIG = """\
protocols = imap
listen = 127.0.0.1
base_dir = {d}/run
state_dir = {d}/state
log_path = {d}/dovecot.log
ssl = no
disable_plaintext_auth = no
{identity}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN {d}/passwd
}}
userdb {{
  driver = passwd-file
  args = {d}/passwd
}}
mail_location = maildir:{d}/mail/%u
service anvil {{
  chroot =
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Dovecot:
    def __init__(self):
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="dv-", dir="/tmp")  # short: unix socket paths are limited
        os.chmod(self.dir, 0o755)
        os.makedirs(f"{self.dir}/mail")
        if os.geteuid() == 0:  # Dovecot never touches mail as root
            user = pwd.getpwnam("nobody")
            os.chown(f"{self.dir}/mail", user.pw_uid, user.pw_gid)
            identity = f"mail_uid = nobody\nmail_gid = {grp.getgrgid(user.pw_gid).gr_name}"
        else:
            me, group = pwd.getpwuid(os.geteuid()).pw_name, grp.getgrgid(os.getegid()).gr_name
            identity = f"default_internal_user = {me}\ndefault_internal_group = {group}\ndefault_login_user = {me}"
        self.conf = f"{self.dir}/dovecot.conf"
        with open(self.conf, "w") as handle:
            handle.write(CONFIG.format(d=self.dir, port=self.port, identity=identity))
        # every test gets a fresh user, so a fresh mailbox; all are written before the start because
        # Dovecot notices a changed passwd-file by its mtime, which two quick writes may share
        with open(f"{self.dir}/passwd", "w") as handle:
            handle.writelines(f"user{n}:{{PLAIN}}{PASSWORD}::::\n" for n in range(1, USERS + 1))
        self._next_user = 0
        self.proc: subprocess.Popen | None = None

    def add_user(self) -> str:
        """A user nobody has used yet."""
        self._next_user += 1
        if self._next_user > USERS:
            raise RuntimeError(f"more than {USERS} test mailboxes asked for")
        return f"user{self._next_user}"

    def start(self, timeout: float = 10.0) -> Dovecot:
        self.proc = subprocess.Popen([BINARY, "-F", "-c", self.conf])
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"dovecot exited {self.proc.returncode}: {self.log()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as probe:
                    if probe.recv(64).startswith(b"* OK"):
                        return self
            except OSError:
                time.sleep(0.02)  # waiting for a server process to listen, not for SLA time
        self.stop()
        raise RuntimeError("dovecot does not answer: " + self.log())

    def connect(self, user: str) -> imaplib.IMAP4:
        client = imaplib.IMAP4("127.0.0.1", self.port, timeout=10)
        client.login(user, PASSWORD)
        return client

    def log(self) -> str:
        try:
            with open(f"{self.dir}/dovecot.log") as handle:
                return handle.read()
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)

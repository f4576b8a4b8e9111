"""A throwaway MariaDB server for the tests and the bench: its own data directory under a temporary
directory, a free port on 127.0.0.1 and a unix socket in that directory. It never touches a system
server's data. The server's OS time zone is set through TZ (osTicket stores naive local times in
that zone), by default one that is not UTC.

`MariaDB(zone).start()`; `root()` a PyMySQL connection as root over the socket; `create_database()`;
`stop()`. `MariaDB(tls=True)` also serves TLS on its port, with a certificate for 127.0.0.1 signed
by a throwaway CA made with the openssl command (`certificates`: their paths, with a client
certificate of the same CA and a second CA that signed nothing of the server's).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

SERVER = "/usr/sbin/mariadbd"
INSTALL_DB = "/usr/bin/mariadb-install-db"
ZONE = "America/New_York"  # the DB server's system zone in the tests: not UTC, with DST


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_certificates(directory: Path) -> dict[str, Path]:
    """A CA, a server certificate for 127.0.0.1 and a client certificate it signed, and another CA."""
    directory.mkdir(parents=True, exist_ok=True)
    for ca, name in (("ca", "Throwaway Test CA"), ("other-ca", "Another Test CA")):
        _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", f"/CN={name}",
                 "-keyout", f"{ca}-key.pem", "-out", f"{ca}.pem", cwd=directory)  # fmt: skip
    extensions = {"server": "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
                  "client": "extendedKeyUsage=clientAuth\n"}  # fmt: skip
    for who, ext in extensions.items():
        (directory / f"{who}.ext").write_text("basicConstraints=CA:FALSE\n" + ext)
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={who}.test", "-keyout", f"{who}-key.pem",
                 "-out", f"{who}.csr", cwd=directory)  # fmt: skip
        _openssl("x509", "-req", "-in", f"{who}.csr", "-CA", "ca.pem", "-CAkey", "ca-key.pem", "-CAcreateserial",
                 "-days", "2", "-extfile", f"{who}.ext", "-out", f"{who}.pem", cwd=directory)  # fmt: skip
    names = ["ca", "other-ca", "server", "server-key", "client", "client-key"]
    return {name.replace("-", "_"): directory / f"{name}.pem" for name in names}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class MariaDB:
    def __init__(self, zone: str = ZONE, buffer_pool: str = "128M", tls: bool = False):
        self.zone = zone
        self.buffer_pool = buffer_pool
        self.tls = tls
        self.certificates: dict[str, Path] = {}
        self.dir: Path | None = None
        self.port = 0
        self.process: subprocess.Popen | None = None

    @property
    def socket(self) -> str:
        return str(self.dir / "mysqld.sock")

    def start(self) -> MariaDB:
        self.dir = Path(tempfile.mkdtemp(prefix="sla-mariadb-"))
        data = self.dir / "data"
        user = ["--user=root"] if os.geteuid() == 0 else []
        subprocess.run(
            [INSTALL_DB, "--no-defaults", f"--datadir={data}", "--auth-root-authentication-method=socket",
             "--skip-test-db", *user],
            check=True, capture_output=True,
        )  # fmt: skip
        self.port = free_port()
        tls = []
        if self.tls:
            self.certificates = certs = make_certificates(self.dir / "tls")
            tls = [f"--ssl-ca={certs['ca']}", f"--ssl-cert={certs['server']}", f"--ssl-key={certs['server_key']}"]
        self.process = subprocess.Popen(
            [SERVER, "--no-defaults", f"--datadir={data}", f"--socket={self.socket}", "--bind-address=127.0.0.1",
             f"--port={self.port}", f"--pid-file={self.dir / 'mysqld.pid'}", f"--log-error={self.dir / 'error.log'}",
             f"--innodb-buffer-pool-size={self.buffer_pool}", "--innodb-log-file-size=256M",
             "--innodb-flush-log-at-trx-commit=2", "--skip-name-resolve", "--character-set-server=utf8mb3",
             "--collation-server=utf8mb3_general_ci", *tls, *user],
            env={**os.environ, "TZ": self.zone},
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while True:
            try:
                self.root().close()
                return self
            except Exception:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    log = (self.dir / "error.log").read_text(errors="replace")[-2000:]
                    self.stop()
                    raise RuntimeError(f"mariadbd did not start:\n{log}") from None
                time.sleep(0.1)  # waiting for a server to come up, not for wall-clock behaviour

    def root(self, database: str | None = None):
        import pymysql

        return pymysql.connect(unix_socket=self.socket, user="root", database=database, autocommit=True)

    def create_database(self, name: str) -> None:
        with self.root() as conn, conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
            cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb3 COLLATE utf8mb3_general_ci")

    def create_user(self, user: str, password: str, grants: list[str]) -> None:
        with self.root() as conn, conn.cursor() as cur:
            cur.execute(f"DROP USER IF EXISTS '{user}'@'%%'", ())
            cur.execute(f"CREATE USER '{user}'@'%%' IDENTIFIED BY %s", (password,))
            for grant in grants:
                cur.execute(grant.format(user=f"'{user}'@'%'"))

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

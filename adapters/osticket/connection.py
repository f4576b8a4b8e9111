"""One database session to osTicket's server, set up as osTicket sets up its own, with the driver's
errors translated into the connector's in one place and every statement counted.

Public API: `Database(section)` (a context manager) with `query`, `one`, `execute`, `transaction`,
`queries` (statements sent), `where`; `translate(exc, where)`.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from contextlib import contextmanager

from connector.config.sources import OsticketSection
from connector.core.errors import AuthFailed, PermanentSourceError, SourceError, TransientSourceError

TIMEOUT = 30
PACK_LIMIT = 1 << 20  # group_concat_max_len: the longest packed list a row carries (bytes)

# MySQL/MariaDB error numbers, by what they mean for us
ACCESS_DENIED = {1044, 1045, 1698}  # wrong user, password or database grant
NO_PRIVILEGE = {1142, 1143, 1227}  # table, column or global privilege refused
NO_TABLE = {1146}
CR_SSL_CONNECTION_ERROR = 2026
GONE = {2002, 2003, 2006, 2013, 2055, 1205, 1213}  # cannot connect, lost connection, lock wait, deadlock


def _driver():
    try:
        import pymysql
    except ImportError:  # the extra is optional: say how to get it
        raise PermanentSourceError("the osticket source needs PyMySQL: pip install 'sla-connector[osticket]'") from None
    return pymysql


def translate(exc: Exception, where: str) -> SourceError:
    code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else 0
    text = str(exc.args[1]) if len(exc.args) > 1 else str(exc)
    if code in ACCESS_DENIED:
        return AuthFailed(f"{where}: access denied ({code}): {text}")
    if code in NO_PRIVILEGE:
        return PermanentSourceError(f"{where}: missing privilege ({code}): {text}")
    if code in NO_TABLE:
        return PermanentSourceError(f"{where}: missing table ({code}): {text}")
    if code in GONE or not code:
        return TransientSourceError(f"{where}: {type(exc).__name__} ({code}): {text}")
    return PermanentSourceError(f"{where}: {type(exc).__name__} ({code}): {text}")


def _tls_context(section: OsticketSection, where: str) -> ssl.SSLContext | None:
    tls = section.tls
    if tls is None:
        return None
    key = "osticket.tls"  # the configuration keys the message names
    try:
        context = ssl.create_default_context(cafile=str(tls.ca_file) if tls.ca_file else None)
    except (OSError, ssl.SSLError) as exc:
        raise PermanentSourceError(f"{where}: TLS: cannot load {key}.ca_file {tls.ca_file}: {exc}") from None
    if not tls.verify_server:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if tls.cert_file:
        try:
            context.load_cert_chain(str(tls.cert_file), str(tls.key_file) if tls.key_file else None)
        except (OSError, ssl.SSLError) as exc:
            raise PermanentSourceError(
                f"{where}: TLS: cannot load {key}.cert_file {tls.cert_file} with its key: {exc}"
            ) from None
    return context


def _tls_failure(exc: Exception, section: OsticketSection, where: str) -> PermanentSourceError | None:
    """A TLS handshake the server or this side refused, named as such (it is no passing outage)."""
    cause = getattr(exc, "original_exception", None)
    code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else 0
    key = "osticket.tls"  # the configuration keys the message names
    if isinstance(cause, ssl.SSLCertVerificationError):
        trusted = f"{key}.ca_file {section.tls.ca_file}" if section.tls and section.tls.ca_file else "the system's CAs"
        return PermanentSourceError(
            f"{where}: TLS: the server's certificate is not accepted ({cause.verify_message}); it must be signed by"
            f" a CA in {trusted} and name the host (or set {key}.verify_server = false)"
        )
    if isinstance(cause, ssl.SSLError):
        return PermanentSourceError(f"{where}: TLS: the handshake failed ({cause.reason or cause})")
    if code == CR_SSL_CONNECTION_ERROR:
        return PermanentSourceError(f"{where}: TLS: {key} is set but the server does not offer TLS")
    return None


class Database:
    def __init__(self, section: OsticketSection):
        self.section = section
        self.queries = 0
        self.pack_limit = PACK_LIMIT
        self._conn = None
        place = str(section.socket) if section.socket else f"{section.host}:{section.port}"
        self.where = f"{section.name}: MySQL {place}/{section.database} as {section.user}"

    def __enter__(self) -> Database:
        pymysql = _driver()
        section = self.section
        password = section.password.get_secret_value() if section.password else ""
        where = dict(unix_socket=str(section.socket)) if section.socket else dict(host=section.host, port=section.port)
        try:
            self._conn = pymysql.connect(
                **where,
                user=section.user,
                password=password,
                database=section.database,
                charset="utf8mb4",
                ssl=_tls_context(section, self.where),
                # without [osticket.tls], no TLS at all: the driver's opportunistic, unverified TLS
                # protects from little and costs a CA bundle load per connection (a write is one)
                ssl_disabled=section.tls is None,
                connect_timeout=TIMEOUT,
                read_timeout=TIMEOUT * 10,
                write_timeout=TIMEOUT,
                autocommit=True,
            )
        except pymysql.MySQLError as exc:
            raise (_tls_failure(exc, section, self.where) or translate(exc, self.where)) from None
        # the same clock as osTicket's NOW(): naive local times of the server's OS zone
        self.execute("SET SESSION time_zone = 'SYSTEM'")
        # a ticket's entries and events are packed into one text each; a longer list is cut (and read again)
        self.execute("SET SESSION group_concat_max_len = %s", (int(self.pack_limit),))
        return self

    def __exit__(self, *exc_info) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception:  # closing a broken connection: nothing left to do
                pass
            self._conn = None

    @contextmanager
    def _errors(self) -> Iterator[None]:
        pymysql = _driver()
        try:
            yield
        except pymysql.MySQLError as exc:
            raise translate(exc, self.where) from None

    def query(self, sql: str, args=()) -> list[tuple]:
        with self._errors(), self._conn.cursor() as cur:
            self.queries += 1
            cur.execute(sql, args)
            return list(cur.fetchall())

    def stream(self, sql: str, args=(), size: int = 5000) -> Iterator[tuple]:
        """Rows as the server sends them, without holding the whole result."""
        pymysql = _driver()
        with self._errors(), self._conn.cursor(pymysql.cursors.SSCursor) as cur:
            self.queries += 1
            cur.execute(sql, args)
            while rows := cur.fetchmany(size):
                yield from rows

    def one(self, sql: str, args=()) -> tuple | None:
        rows = self.query(sql, args)
        return rows[0] if rows else None

    def execute(self, sql: str, args=()) -> int:
        with self._errors(), self._conn.cursor() as cur:
            self.queries += 1
            return cur.execute(sql, args)

    def last_id(self) -> int:
        return self._conn.insert_id()

    @contextmanager
    def transaction(self) -> Iterator[Database]:
        with self._errors():
            self._conn.begin()
        try:
            yield self
        except BaseException:
            try:
                self._conn.rollback()
            except Exception:  # the connection may be gone; the server rolls back on its own then
                pass
            raise
        with self._errors():
            self._conn.commit()

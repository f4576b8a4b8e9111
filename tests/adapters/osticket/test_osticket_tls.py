"""TLS to the database server, against a throwaway MariaDB serving a certificate for 127.0.0.1 that
a throwaway CA signed (both made with the openssl command by the fixture)."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.osticket.adapter import OsticketAdapter
from adapters.osticket.connection import Database
from connector.core.errors import AuthFailed, PermanentSourceError
from tests.adapters.osticket.conftest import PASSWORD, OsticketHost
from tests.support.mariadb import SERVER, MariaDB


@pytest.fixture(scope="module")
def tls_server():
    if not Path(SERVER).exists():
        pytest.fail(f"{SERVER} is missing: run the tests with scripts/test.sh, which installs mariadb-server")
    server = MariaDB(tls=True).start()
    yield server
    server.stop()


@pytest.fixture
def host(tls_server):
    host = OsticketHost(tls_server)
    yield host
    host.conn.close()


def session_tls(section) -> str:
    """The TLS version of the adapter's own session ('' when it is not encrypted)."""
    with Database(section) as db:
        return db.one("SHOW SESSION STATUS LIKE 'Ssl_version'")[1]


def test_the_servers_ca_verifies_the_server_and_the_session_is_encrypted(host, tmp_path):
    certs = host.server.certificates
    section = host.section(name="osticket", tls={"ca_file": certs["ca"]})
    host.desk.ticket(host.desk.user("Ann", "ann@acme.example"), "Over TLS", "x", host.desk.installed)
    described = OsticketAdapter(section, tmp_path).check()
    assert "1 tickets" in described and "; over TLSv1." in described and "not verified" not in described
    assert [s.ticket.title for s in OsticketAdapter(section, tmp_path).pull(None)] == ["Over TLS"]
    assert session_tls(section).startswith("TLSv1.")


def test_without_a_tls_section_the_session_is_not_encrypted(host, tmp_path):
    assert session_tls(host.section()) == ""  # as the README says: configure [osticket.tls] for TLS
    assert "; not encrypted" in OsticketAdapter(host.section(), tmp_path).check()


def test_a_wrong_ca_is_a_clear_tls_error_naming_the_source(host, tmp_path):
    other = host.server.certificates["other_ca"]
    section = host.section(name="osticket", tls={"ca_file": other})
    with pytest.raises(PermanentSourceError) as raised:
        OsticketAdapter(section, tmp_path).check()
    text = str(raised.value)
    assert text.startswith(f"osticket: MySQL 127.0.0.1:{host.server.port}/{host.database}")
    assert "TLS: the server's certificate is not accepted" in text
    assert str(other) in text and "osticket.tls.ca_file" in text
    assert PASSWORD not in text


def test_a_certificate_for_another_host_name_is_refused(host, tmp_path):
    # the certificate names 127.0.0.1; "localhost" reaches the same server under another name
    section = host.section(name="osticket", host="localhost", tls={"ca_file": host.server.certificates["ca"]})
    with pytest.raises(PermanentSourceError, match="TLS: the server's certificate is not accepted.*[Hh]ostname"):
        OsticketAdapter(section, tmp_path).check()


def test_without_verification_the_session_is_encrypted_all_the_same(host, tmp_path):
    section = host.section(tls={"ca_file": host.server.certificates["other_ca"], "verify_server": False})
    assert session_tls(section).startswith("TLSv1.")
    assert ", server not verified" in OsticketAdapter(section, tmp_path).check()


def test_a_client_certificate_for_an_account_that_requires_one(host, tmp_path):
    certs = host.server.certificates
    with host.server.root() as conn, conn.cursor() as cur:
        cur.execute(f"ALTER USER '{host.user}'@'%' REQUIRE X509")
    bare = host.section(name="osticket", tls={"ca_file": certs["ca"]})
    with pytest.raises(AuthFailed, match="access denied"):
        OsticketAdapter(bare, tmp_path).check()
    section = host.section(tls={"ca_file": certs["ca"], "cert_file": certs["client"], "key_file": certs["client_key"]})
    assert "0 tickets" in OsticketAdapter(section, tmp_path).check()


def test_an_unreadable_ca_file_is_named(host, tmp_path):
    missing = tmp_path / "nowhere.pem"
    section = host.section(name="osticket", tls={"ca_file": missing})
    with pytest.raises(PermanentSourceError, match=r"TLS: cannot load osticket\.tls\.ca_file .*nowhere\.pem"):
        OsticketAdapter(section, tmp_path).check()


def test_tls_asked_of_a_server_without_it_is_refused_not_downgraded(osticket, tmp_path):
    section = osticket.section(name="osticket", tls={"verify_server": False})  # the tests' plain server
    with pytest.raises(PermanentSourceError, match="TLS: osticket.tls is set but the server does not offer TLS"):
        OsticketAdapter(section, tmp_path).check()

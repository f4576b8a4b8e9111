"""`check()` and the errors a wrong setup gives: each names what is wrong, never the password."""

from __future__ import annotations

import logging

import pytest

from adapters.osticket.adapter import OsticketAdapter
from connector.core.errors import AuthFailed, PermanentSourceError, TransientSourceError
from tests.adapters.osticket.conftest import GRANTS, PASSWORD, OsticketHost


def test_check_describes_a_sound_setup(osticket, tmp_path):
    text = OsticketAdapter(osticket.section(), tmp_path).check()
    assert "osticket 1.18.1, prefix ost_, 0 tickets" in text
    assert "times in the server's own (EST)" in text  # America/New_York in November
    assert "tags skipped" in text and "skipped: lacks" not in text


def test_a_wrong_password_is_an_auth_failure_without_the_password(osticket, tmp_path):
    adapter = OsticketAdapter(osticket.section(password="wrong-one"), tmp_path)
    with pytest.raises(AuthFailed) as raised:
        adapter.check()
    assert "access denied" in str(raised.value) and osticket.user in str(raised.value)
    assert "wrong-one" not in str(raised.value) and PASSWORD not in str(raised.value)


def test_a_server_that_is_not_there_is_transient(osticket, tmp_path):
    from tests.support.mariadb import free_port

    with pytest.raises(TransientSourceError, match=r"127\.0\.0\.1:\d+"):
        OsticketAdapter(osticket.section(port=free_port()), tmp_path).check()


def test_a_missing_table_and_column_are_named(osticket, tmp_path):
    osticket.desk.run("DROP TABLE ost_thread_event")
    osticket.desk.run("ALTER TABLE ost_ticket DROP COLUMN lastupdate")
    with pytest.raises(PermanentSourceError, match=r"lacks ost_ticket\.lastupdate, ost_thread_event"):
        OsticketAdapter(osticket.section(), tmp_path).check()
    with pytest.raises(PermanentSourceError, match=r"missing table.*ost_thread_event"):
        list(OsticketAdapter(osticket.section(), tmp_path).pull(None))


def test_missing_read_privileges_are_named(mariadb, tmp_path):
    host = OsticketHost(mariadb, grants=["GRANT SELECT ON `{db}`.`{p}ticket` TO {user}"])
    with pytest.raises(PermanentSourceError, match=r"lacks SELECT on ost_config, SELECT on ost_ticket_status"):
        OsticketAdapter(host.section(), tmp_path).check()


def test_writes_without_privileges_are_named_and_left_out(mariadb, tmp_path):
    host = OsticketHost(mariadb, grants=[g for g in GRANTS if "thread_entry" not in g and "_search" not in g])
    adapter = OsticketAdapter(host.section(), tmp_path)
    text = adapter.check()
    assert "add note skipped: lacks INSERT on ost_thread_entry, INSERT on ost__search, DELETE on ost__search" in text
    assert adapter.capabilities == {"raise_priority"}


def test_the_prefix_is_found_when_not_given_and_an_unknown_signature_is_a_warning(mariadb, tmp_path, caplog):
    host = OsticketHost(mariadb, prefix="help_", grants=["GRANT SELECT ON `{db}`.* TO {user}"])
    host.desk.run("UPDATE help_config SET value = 'feedface' WHERE `key` = 'schema_signature'")
    adapter = OsticketAdapter(host.section(table_prefix=None), tmp_path)
    with caplog.at_level(logging.WARNING):
        text = adapter.check()
    assert "prefix help_" in text and "an unknown schema signature" in text
    assert "schema signature feedface is not one" in caplog.text


def test_the_registry_builds_the_osticket_adapter_for_its_section(osticket, tmp_path):
    from adapters.registry import build

    adapter = build(osticket.section(), tmp_path)
    assert isinstance(adapter, OsticketAdapter) and adapter.name == "osticket"

from __future__ import annotations

import pytest

from connector.cli.main import main
from tests.conftest import EXAMPLE_CONFIG


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["--config", str(EXAMPLE_CONFIG), "calendar", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_due_reads_local_times_in_the_calendar_zone(capsys):
    # the example's office closes Friday at 16:00: 1 h on Friday, 3 h on Monday
    code, out, _ = run(capsys, "due", "--calendar", "office", "--start", "2026-11-27T15:00", "--duration", "4h")
    assert code == 0
    assert "counting  2026-11-27T15:00:00+01:00 (Fri)" in out
    assert "due       2026-11-30T12:00:00+01:00 (Mon)" in out


def test_due_with_an_offset_and_a_negative_duration(capsys):
    code, out, _ = run(capsys, "due", "--calendar", "office", "--start", "2026-11-30T11:00Z", "--duration=-1h30m")
    assert code == 0
    assert "start     2026-11-30T12:00:00+01:00 (Mon)" in out
    assert "due       2026-11-30T10:30:00+01:00 (Mon)" in out
    assert "counting" not in out


def test_elapsed(capsys):
    code, out, _ = run(
        capsys, "elapsed", "--calendar", "office", "--start", "2026-11-27T15:00", "--end", "2026-11-30T10:00"
    )
    assert code == 0
    assert "elapsed   2h of business time (7200 s)" in out


def test_an_unknown_or_missing_calendar_name_lists_the_defined_ones(capsys):
    code, _, err = run(capsys, "due", "--calendar", "ofice", "--start", "2026-11-27T15:00", "--duration", "1h")
    assert code == 2 and "--calendar: unknown calendar 'ofice' (defined: office, always)" in err
    code, _, err = run(capsys, "due", "--start", "2026-11-27T15:00", "--duration", "1h")
    assert code == 2 and "give --calendar NAME" in err


@pytest.mark.parametrize(
    "args, message",
    [
        (["due", "--start", "2026-11-27T15:00", "--duration", "4hr"], "'4hr' is not a duration"),
        (["due", "--start", "yesterday", "--duration", "4h"], "'yesterday' is not an ISO time"),
    ],
)
def test_bad_arguments_exit_2_with_the_reason(capsys, args, message):
    with pytest.raises(SystemExit) as info:
        run(capsys, *args)
    assert info.value.code == 2
    assert message in capsys.readouterr().err

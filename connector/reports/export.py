"""The daily scheduled export: one file per report per day, each written atomically.

Public API: `atomic_text_file(path)`, `export_reports(settings, store, now)`,
`scheduled_exports(settings, store)` -> [(time of day, job)] for the service.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO
from zoneinfo import ZoneInfo

from connector.reports.output import write
from connector.reports.queries import Filters, Reports
from connector.store.database import Store

log = logging.getLogger("sla_connector.export")


@contextmanager
def atomic_text_file(path: Path) -> Iterator[TextIO]:
    """Write to a temporary file beside `path`, then rename it into place: readers never see half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as stream:
            yield stream
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def export_reports(settings: Any, store: Store, now: datetime) -> list[Path]:
    """This month so far: compliance by date, the SLA log, and the credits; named by today's date."""
    folder = Path(settings.reports.export_dir)
    today = now.astimezone(ZoneInfo(settings.connector.report_timezone)).date()
    first = today.replace(day=1)
    reports = Reports(store, settings, now)
    month = f"{first:%Y-%m}"
    tables = {
        "compliance": reports.compliance(Filters(start=first, end=today)),
        "log": reports.log(Filters(start=first, end=today)),
        "credits": reports.credits(month),
    }
    written = []
    for name, table in tables.items():
        path = folder / f"{name}-{today.isoformat()}.csv"
        with atomic_text_file(path) as stream:
            write(table, "csv", stream, excel=settings.reports.csv_bom)
        written.append(path)
    return written


def scheduled_exports(settings: Any, store: Store) -> list[tuple[str, Callable[[], None]]]:
    if settings.reports.export_dir is None:
        return []

    def export_daily_reports() -> None:
        written = export_reports(settings, store, datetime.now(UTC))
        log.info("daily export: wrote %s", ", ".join(str(path) for path in written))

    return [(settings.reports.export_time, export_daily_reports)]

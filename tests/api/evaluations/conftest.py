"""The evaluation's API tests stand on the reports' frozen-clock ``center`` (SQLite and
PostgreSQL, as the store fixtures parametrize it)."""

from tests.integration.reports.conftest import center  # noqa: F401 (the fixture, not redefined)

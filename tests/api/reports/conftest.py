"""The reports' API tests stand on the reports' frozen-clock ``center`` (defined once, with
the reports' integration tests)."""

from tests.integration.reports.conftest import center  # noqa: F401 (the fixture, not redefined)

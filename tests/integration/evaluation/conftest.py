"""The evaluation's facts stand on the reports' frozen-clock ``center`` and view store."""

from tests.integration.reports.conftest import center, view_store  # noqa: F401

from tests.alerts.conftest import factory, inbox  # noqa: F401  (shared fixtures)

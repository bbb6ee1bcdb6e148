import pytest

from tests.alerts.factories import AlertFactory


@pytest.fixture
def factory(settings, db_url) -> AlertFactory:
    return AlertFactory(settings)


@pytest.fixture
def inbox(factory) -> dict[str, int]:
    return factory.scenario()

import pytest

from tests import factories


@pytest.fixture
def org(db):
    """A company with the general preset and one person per role (see tests/factories.py)."""
    return factories.org()

import pytest

from tests import factories


@pytest.fixture
def org(db):
    """A company with the general preset and one person per role (see tests/factories.py)."""
    return factories.org()


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """PBKDF2 costs ~0.2 s per user; tests create many users, so hash with MD5 (tests only)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

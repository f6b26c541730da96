import pytest
from django.core.cache import cache

from tests import factories
from tests.api.conftest import Api


@pytest.fixture
def org(db):
    """A company with the general preset and one person per role (see tests/factories.py)."""
    return factories.org()


@pytest.fixture
def api(org):
    """`api(person)` → an `Api` JSON client with that person's bearer token (tokens cached per person;
    with `scopes`, a new token limited to them)."""
    clients: dict[int, Api] = {}

    def make(user, scopes: list[str] | None = None) -> Api:
        if scopes is not None:
            return Api(user, scopes)
        if user.pk not in clients:
            clients[user.pk] = Api(user)
        return clients[user.pk]

    return make


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """PBKDF2 costs ~0.2 s per user; tests create many users, so hash with MD5 (tests only)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _fresh_shared_cache(request):
    """The default cache is a table of the test database (kesu.trust.cache: rate-limit counters, the
    board's counts). A test inside a transaction (`db`) leaves nothing behind; a test that commits
    (`transactional_db`, `live_server`) would hand its counters to the next test, so clear around it."""
    marker = request.node.get_closest_marker("django_db")
    commits = bool({"transactional_db", "live_server"} & set(request.fixturenames)) or bool(
        marker and marker.kwargs.get("transaction")
    )
    if not commits:
        yield
        return
    request.getfixturevalue("transactional_db")  # set up before (and torn down after) this fixture
    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def _default_language():
    """Every test starts and ends in the installation's language: a request with Accept-Language (or a
    test that activates English) leaves its language active in the thread, and a later test that reads
    Chinese text would then see English."""
    from django.conf import settings
    from django.utils import translation

    translation.activate(settings.LANGUAGE_CODE)
    yield
    translation.activate(settings.LANGUAGE_CODE)

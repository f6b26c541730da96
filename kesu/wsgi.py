import gc
import os

from django.core.wsgi import get_wsgi_application
from django.urls import get_resolver

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kesu.settings")
application = get_wsgi_application()

# Import the views now (Django otherwise imports the URLconf on the first request), then move every object
# loaded so far out of the garbage collector's reach: the full collections a request triggers no longer walk
# the hundreds of thousands of long-lived objects of Django, the apps and their modules, and under
# `gunicorn --preload` the forked workers do not touch (and so copy) those pages. Measured on the case page
# (casepage20): 42 → 38 CPU ms per request, `get_case` 7.7 → 4.3 ms.
get_resolver().url_patterns  # noqa: B018 — the attribute access imports the URLconf
gc.freeze()

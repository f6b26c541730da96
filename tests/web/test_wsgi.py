"""The WSGI entry point loads the views before the first request and freezes what it loaded."""

from __future__ import annotations

import subprocess
import sys


def test_wsgi_imports_the_views_and_freezes_the_loaded_objects():
    code = (
        "import gc, sys; import kesu.wsgi; "
        "print(gc.get_freeze_count(), 'kesu.web.views' in sys.modules, 'kesu.api.cases' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    frozen, views, api = int(out[0]), out[1], out[2]
    assert frozen > 100_000, frozen  # Django, the apps and their modules
    assert views == "True" and api == "True"

"""The `kesu` console script: `manage.py` with the project's settings preselected.

`kesu policy load insurance`, `kesu demo-data`, `kesu serve` ... are Django
management commands; this wrapper only spares people the `manage.py` path.
"""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kesu.settings")
    from django.core.management import execute_from_command_line

    argv = [sys.argv[0], *sys.argv[1:]]
    # `kesu demo-data` → the `demo_data` management command (command modules cannot have hyphens).
    if len(argv) > 1 and not argv[1].startswith("-"):
        argv[1] = argv[1].replace("-", "_")
    execute_from_command_line(argv)


if __name__ == "__main__":
    main()

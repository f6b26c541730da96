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
    execute_from_command_line(argv)


if __name__ == "__main__":
    main()

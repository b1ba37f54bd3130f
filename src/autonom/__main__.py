"""``python -m autonom`` and the ``autonom`` script."""

import sys

from autonom.cli import main


def run() -> None:
    sys.exit(main())


if __name__ == "__main__":
    run()

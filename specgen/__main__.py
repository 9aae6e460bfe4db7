"""``python -m specgen``: the same program as the ``specgen`` console script."""

from specgen.cli import main

if __name__ == "__main__":
    main()

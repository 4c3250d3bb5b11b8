"""``python -m wavegen`` is the same as the ``wavegen`` console script."""

from wavegen.cli import main

if __name__ == "__main__":
    raise SystemExit(main())

"""``python -m salesnb.cli``: the ``salesnb`` command (as ``python -m salesnb``)."""

from salesnb.cli.commands import run

if __name__ == "__main__":
    run()

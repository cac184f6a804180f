"""``python -m salesnb``: the ``salesnb`` command."""

from salesnb.cli.commands import run

if __name__ == "__main__":
    run()

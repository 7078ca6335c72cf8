"""``python -m scalecmp.cli``: the ``scalecmp`` command."""

from scalecmp.cli import main

if __name__ == "__main__":
    main()

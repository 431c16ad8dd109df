"""What the ``semdenoise`` commands tell the user: one line each on stderr (``error: ...``, ``note: ...``), never
breaking a progress bar, and the exit codes they share."""

from __future__ import annotations

import sys

EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class UsageError(ValueError):
    """A bad argument or setting: reported as one line, exit code 2."""


def say(message: str) -> None:
    """One line on stderr that does not break a running progress bar."""
    from tqdm import tqdm

    tqdm.write(message, file=sys.stderr)


def error(message: str) -> None:
    say(f"error: {message}")


def note(message: str, quiet: bool) -> None:
    if not quiet:
        say(f"note: {message}")

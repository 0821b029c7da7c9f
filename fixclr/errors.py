"""The one error path of every ``fixclr`` command and ``python -m`` entry point (no torch import).

A user's mistake (bad input, config, layout, options, a full disk) raises a ``UserError``
subclass whose message names the file or key and says what to do; ``run_main`` prints it as the
single line ``fixclr COMMAND: error: MESSAGE`` and exits with status 2. A bad command line is one
too: the commands' ``ArgumentParser`` raises ``UsageError`` instead of printing its usage. Any other
exception is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import errno
import os
import sys
from collections.abc import Callable

EXIT_USER_ERROR = 2

# OS errors about a file that the user, not the code, has to fix; with the advice to give.
_OS_ADVICE = {
    errno.ENOSPC: "free space there or write elsewhere",
    errno.EDQUOT: "free quota there or write elsewhere",
    errno.EACCES: "check its permissions",
    errno.EPERM: "check its permissions",
    errno.EROFS: "write elsewhere",
    errno.ELOOP: "fix or remove the symbolic link",
    errno.ENOENT: "check the path",
    errno.ENOTDIR: "check the path",
    errno.EISDIR: "check the path",
}


class UserError(Exception):
    """Bad input or setup; the message names the offending file, folder or key and what to do."""


class UsageError(UserError):
    """A bad command line: an unknown or missing option, or a value its type refuses."""


class ArgumentParser(argparse.ArgumentParser):
    """The commands' argument parser: a bad command line raises UsageError (one line through
    ``run_main``) instead of printing the usage and exiting; ``--help`` is unchanged."""

    def error(self, message: str):
        raise UsageError(f"{message} (see '{self.prog} --help')")


def os_error_message(error: OSError) -> str | None:
    """The one-line message of an OS error a user has to fix (full disk, permissions, missing
    path, symlink loop), naming the path; None for any other OS error."""
    code = error.errno
    if code is None and isinstance(error, FileNotFoundError):
        return str(error)  # raised by fixclr itself with a message naming the file
    if code not in _OS_ADVICE:
        return None
    where = os.fsdecode(error.filename) if error.filename is not None else "(unknown path)"
    return f"{error.strerror or os.strerror(code)}, {where}, {_OS_ADVICE[code]}"


def disk_full(error: BaseException) -> bool:
    """Whether ``error`` (also an h5py error, whose errno is only in its message) is a full disk or quota."""
    if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    text = str(error)
    return "No space left on device" in text or "errno = 28" in text or "Disk quota exceeded" in text


def user_error_message(error: BaseException) -> str | None:
    """The one-line message to print for ``error``, or None when it is a bug (keep the traceback)."""
    if isinstance(error, UserError):
        return str(error)
    if isinstance(error, OSError):
        return os_error_message(error)
    return None


def run_main(prog: str, main: Callable[[list[str]], int | None], argv: list[str]) -> int:
    """``main(argv)``'s exit status; a user error instead prints ``PROG: error: MESSAGE`` on stderr
    (one line) and gives EXIT_USER_ERROR. Every other exception propagates with its traceback."""
    try:
        return int(main(argv) or 0)
    except Exception as error:  # noqa: BLE001 - re-raised unless it is the user's to fix
        message = user_error_message(error)
        if message is None:
            raise
        print(f"{prog}: error: {message}", file=sys.stderr)
        return EXIT_USER_ERROR

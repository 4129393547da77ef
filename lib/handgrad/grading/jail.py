"""Resource limits for one sandboxed kernel, then exec the kernel itself.

``python -m handgrad.grading.jail --data-bytes N --processes N --file-bytes N -- CMD ...``
sets the limits on this process (inherited by everything it starts), closes stdin and
replaces itself with CMD. Kept free of heavy imports: it runs before every kernel.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys


def drop_privileges(uid: int) -> None:
    """Become an unprivileged user (only possible, and only needed, when started as root)."""
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)


def set_limits(data_bytes: int, processes: int, file_bytes: int) -> None:
    """Cap heap memory, process count (counted per user) and file size; no core dumps."""
    resource.setrlimit(resource.RLIMIT_DATA, (data_bytes, data_bytes))
    resource.setrlimit(resource.RLIMIT_NPROC, (processes, processes))
    resource.setrlimit(resource.RLIMIT_FSIZE, (file_bytes, file_bytes))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def main(argv: list[str] | None = None) -> None:
    """Parse the limits, apply them and exec the command after ``--``."""
    parser = argparse.ArgumentParser(prog="handgrad.grading.jail")
    parser.add_argument("--data-bytes", type=int, required=True)
    parser.add_argument("--processes", type=int, required=True)
    parser.add_argument("--file-bytes", type=int, required=True)
    parser.add_argument("--user", type=int, default=None, help="uid (and gid) to run as, when root")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command after --")
    if args.user is not None and os.getuid() == 0:
        drop_privileges(args.user)
    set_limits(args.data_bytes, args.processes, args.file_bytes)
    stdin = os.open(os.devnull, os.O_RDONLY)
    os.dup2(stdin, 0)
    os.execvp(command[0], command)


if __name__ == "__main__":
    main(sys.argv[1:])

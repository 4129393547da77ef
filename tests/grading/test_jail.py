"""handgrad.grading.jail: the resource limits every sandboxed kernel starts under."""

from __future__ import annotations

import subprocess
import sys

PROBE = ("import os, resource, sys\n"
         "print(resource.getrlimit(resource.RLIMIT_DATA)[0], resource.getrlimit(resource.RLIMIT_NPROC)[0],"
         " resource.getrlimit(resource.RLIMIT_FSIZE)[0], resource.getrlimit(resource.RLIMIT_CORE)[0])\n"
         "print(repr(sys.stdin.read()))\n")


def jail(*arguments: str, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "handgrad.grading.jail", *arguments], input=stdin,
                          capture_output=True, text=True, timeout=60, check=False)


def test_the_limits_are_set_and_stdin_is_closed() -> None:
    done = jail("--data-bytes", str(3 << 30), "--processes", "4000", "--file-bytes", str(1 << 20), "--",
                sys.executable, "-c", PROBE, stdin="a secret the kernel must not read")
    assert done.returncode == 0, done.stderr
    limits, stdin = done.stdout.splitlines()
    assert limits.split() == [str(3 << 30), "4000", str(1 << 20), "0"]
    assert stdin == "''"


def test_a_file_larger_than_the_limit_cannot_be_written(tmp_path) -> None:
    target = tmp_path / "big"
    code = f"open({str(target)!r}, 'wb').write(b'x' * 10000)"
    done = jail("--data-bytes", str(3 << 30), "--processes", "4000", "--file-bytes", "1000", "--",
                sys.executable, "-c", code)
    assert done.returncode != 0
    assert target.stat().st_size <= 1000


def test_the_memory_limit_stops_a_large_allocation() -> None:
    code = "b = bytearray(2 << 30)"
    done = jail("--data-bytes", str(1 << 30), "--processes", "4000", "--file-bytes", "1000", "--",
                sys.executable, "-c", code)
    assert done.returncode != 0 and "MemoryError" in done.stderr


def test_without_a_command_it_refuses() -> None:
    done = jail("--data-bytes", "1", "--processes", "1", "--file-bytes", "1")
    assert done.returncode == 2 and "no command" in done.stderr


def test_missing_limits_are_an_error() -> None:
    done = jail("--", "true")
    assert done.returncode == 2 and "--data-bytes" in done.stderr


def test_as_root_it_drops_to_the_sandbox_user() -> None:
    import os

    import pytest

    from handgrad.grading.bubblewrap import SANDBOX_UIDS

    if os.getuid() != 0:
        pytest.skip("only root can switch users")
    uid = SANDBOX_UIDS.start + 12345                  # a user no account has
    done = jail("--data-bytes", str(3 << 30), "--processes", "4000", "--file-bytes", "1000",
                "--user", str(uid), "--", "sh", "-c", "id -u; id -g")   # this venv is root's: not for that user
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [str(uid), str(uid)]

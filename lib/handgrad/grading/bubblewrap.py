"""The command prefix that puts a kernel in the sandbox: bubblewrap (when it works here) around the jail.

Bubblewrap gives the kernel a private mount tree with just its work folder writable, the
system, the Python install, the lib and the data read-only, no network and its own pid
namespace; :mod:`handgrad.grading.jail` then sets the resource limits and closes stdin.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from handgrad.grading.limits import Limits

# When the round runs as root, each kernel runs as a user of its own from this range (no account has one):
# root would be exempt from the process limit, which counts per user, and kernels running at once (--jobs,
# kernels launched ahead) must neither share that count nor be able to signal each other.
SANDBOX_UIDS = range(0x40000000, 0x7FFFFFFF)


def sandbox_uid(workdir: Path) -> int:
    """The user of the kernel working in ``workdir`` (an existing folder): one of its own, from the folder's
    inode number, which no other folder existing at the same time on that filesystem has."""
    return SANDBOX_UIDS.start + os.stat(workdir).st_ino % len(SANDBOX_UIDS)


def bubblewrap_works() -> bool:
    """True when bubblewrap can create its namespaces on this machine."""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return False
    probe = subprocess.run([bwrap, "--ro-bind", "/", "/", "--dev", "/dev", "--unshare-all", "--die-with-parent",
                            "true"], check=False, capture_output=True, timeout=30)
    return probe.returncode == 0


def readable_roots(extra: list[Path]) -> list[Path]:
    """The folders a kernel must read: system, Python install, virtualenv, the lib, data."""
    import handgrad

    lib = Path(handgrad.__file__).resolve().parent.parent
    roots = [Path(p) for p in ("/usr", "/etc", "/bin", "/sbin", "/lib", "/lib64", "/opt")]
    roots += [Path(sys.base_prefix).resolve(), Path(sys.prefix).resolve(), lib] + extra
    return [root for root in roots if root.exists()]


def jail_command(limits: Limits, uid: int) -> list[str]:
    """The resource-limit wrapper (dropping to the user ``uid`` when run as root)."""
    jail = [sys.executable, "-m", "handgrad.grading.jail", "--data-bytes", str(limits.data_bytes),
            "--processes", str(limits.processes), "--file-bytes", str(limits.file_bytes)]
    return jail + (["--user", str(uid), "--"] if os.getuid() == 0 else ["--"])


def sandbox_command(workdir: Path, limits: Limits, read_only: list[Path], isolation: str) -> list[str]:
    """The prefix that puts a kernel command in the sandbox (``isolation`` "bubblewrap" or "limits")."""
    jail = jail_command(limits, sandbox_uid(workdir))
    if isolation != "bubblewrap":
        return jail
    # As root, keep the user namespace of the host so the jail can switch to the sandbox user.
    namespaces = (["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try"]
                  if os.getuid() == 0 else ["--unshare-all"])
    command = ["bwrap", *namespaces, "--die-with-parent", "--new-session",
               "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "--tmpfs", "/home"]
    roots = readable_roots(read_only)
    # bwrap creates missing parents of a mount point as root-only folders: open them to the sandbox user.
    parents = sorted({parent for path in roots + [workdir] for parent in path.parents if parent != Path("/")},
                     key=lambda path: len(path.parts))
    for parent in parents:
        if not any(parent == root or root in parent.parents for root in roots):
            command += ["--perms", "0755", "--dir", str(parent)]
    for root in roots:
        command += ["--ro-bind", str(root), str(root)]
    command += ["--bind", str(workdir), str(workdir), "--chdir", str(workdir), "--setenv", "HOME", str(workdir),
                # In its own pid namespace the kernel's parent is pid 1, which ipykernel would take for an
                # orphaned kernel; --die-with-parent already ties its life to the client.
                "--setenv", "JPY_PARENT_PID", "1"]
    return command + ["--"] + jail

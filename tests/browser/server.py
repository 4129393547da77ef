"""A throwaway JupyterLab 4 server (which also serves Notebook 7) for the browser tests."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

COURSE = Path(__file__).resolve().parents[2]
# Settings a person would not notice but a test would: every cell stays in the page (no
# windowing), no news or update pop-ups over the notebook.
SETTINGS = {
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false",
                                                                         "checkForUpdates": False},
}


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    """A running server: its base URL, token, root folder and process."""

    url: str
    token: str
    root: Path
    process: subprocess.Popen[bytes]
    log: Path

    def lab(self, path: str) -> str:
        """The JupyterLab URL of a notebook (path relative to the root), in a workspace of its own, so that
        the tabs of earlier notebooks (and their kernels) are not restored."""
        workspace = "t" + secrets.token_hex(6)
        return f"{self.url}/lab/workspaces/{workspace}/tree/{path}?token={self.token}"

    def notebook(self, path: str) -> str:
        """The Notebook 7 URL of a notebook (path relative to the root)."""
        return f"{self.url}/notebooks/{path}?token={self.token}"

    def api(self, method: str, path: str) -> object:
        """Call the server's REST API; returns the decoded JSON (None when empty)."""
        request = urllib.request.Request(f"{self.url}/api/{path}", method=method,
                                         headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(request, timeout=30) as response:
            body = response.read()
        return json.loads(body) if body else None

    def shutdown_kernels(self) -> None:
        """Shut down every kernel, so that the next notebook starts on a quiet machine."""
        for kind in ("sessions", "kernels"):
            listed = self.api("GET", kind)
            for entry in listed if isinstance(listed, list) else []:
                self.api("DELETE", f"{kind}/{entry['id']}")

    def stop(self) -> None:
        """Stop the server (and its kernels)."""
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start(root: Path, env_extra: dict[str, str], timeout: float = 180.0) -> Server:
    """Start JupyterLab from the course's .venv on 127.0.0.1, a free port, a token, ``root`` as its folder."""
    venv_bin = Path(sys.executable).parent
    jupyter = venv_bin / "jupyter"
    port, token = free_port(), secrets.token_hex(16)
    home = root.parent / "jupyter-home"
    settings = home / "settings"
    for name, values in SETTINGS.items():
        (settings / name).parent.mkdir(parents=True, exist_ok=True)
        (settings / name).write_text(json.dumps(values))
    env = {key: value for key, value in os.environ.items() if key != "CI"}
    env.update({"JUPYTERLAB_SETTINGS_DIR": str(settings), "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"),
                "JUPYTER_CONFIG_DIR": str(home / "config"), "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
                "PATH": f"{venv_bin}{os.pathsep}{env.get('PATH', '')}", "PYTHONUNBUFFERED": "1"})
    env.update(env_extra)
    log = root.parent / "jupyter-server.log"
    command = [str(jupyter), "lab", "--no-browser", "--ip=127.0.0.1", f"--port={port}", "--port-retries=0",
               f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
               "--LabApp.expose_app_in_browser=True", "--JupyterNotebookApp.expose_app_in_browser=True",
               "--MappingKernelManager.cull_idle_timeout=0"]
    if hasattr(os, "getuid") and os.getuid() == 0:
        command.append("--allow-root")  # containers and CI run as root; the server only listens on 127.0.0.1
    with log.open("wb") as sink:
        process = subprocess.Popen(command, cwd=root, env=env, stdout=sink, stderr=subprocess.STDOUT)
    server = Server(f"http://127.0.0.1:{port}", token, root, process, log)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"JupyterLab exited with {process.returncode}; log:\n{log.read_text()[-3000:]}")
        try:
            server.api("GET", "status")
            return server
        except OSError:
            time.sleep(0.5)
    server.stop()
    raise RuntimeError(f"JupyterLab did not answer within {timeout:.0f} s; log:\n{log.read_text()[-3000:]}")


def copy_notebooks(root: Path, notebooks: dict[str, Path]) -> None:
    """Copy each notebook's folder under ``root`` at the given relative folder name."""
    for name, notebook in notebooks.items():
        shutil.copytree(notebook.parent, root / name, dirs_exist_ok=True)


def chromium_path() -> str | None:
    """Debian's Chromium (or HANDGRAD_CHROMIUM), or None when it is not installed."""
    for candidate in (os.environ.get("HANDGRAD_CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium")):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None

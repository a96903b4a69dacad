"""Managed processes: started detached, tracked by pid file, stopped by pid.

A pid file records the pid and the executable the lab started; a process is
the lab's only while /proc/<pid>/exe still points at that executable, so a
recycled pid is never signalled.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import ssl
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Managed:
    name: str
    argv: list[str]
    # (host, port) pairs the process listens on
    listens: list[tuple[str, int]]
    health_url: str = ""
    env: dict = field(default_factory=dict)
    cwd: str | None = None


def pid_file(run_dir: Path, name: str) -> Path:
    return run_dir / f"{name}.pid"


def read_pid(run_dir: Path, name: str) -> dict | None:
    try:
        return json.loads(pid_file(run_dir, name).read_text())
    except (OSError, ValueError):
        return None


def is_ours(record: dict | None) -> bool:
    if not record:
        return False
    try:
        exe = os.readlink(f"/proc/{record['pid']}/exe")
    except OSError:
        return False
    state = Path(f"/proc/{record['pid']}/stat").read_text().rsplit(")", 1)[1].split()[0]
    return state != "Z" and os.path.realpath(exe) == os.path.realpath(record["exe"])


def start(proc: Managed, run_dir: Path, log_dir: Path) -> int:
    log_dir.mkdir(parents=True, exist_ok=True)
    run_dir.mkdir(parents=True, exist_ok=True)
    exe = proc.argv[0]
    with open(log_dir / f"{proc.name}.log", "ab") as log:
        child = subprocess.Popen(
            proc.argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **proc.env},
            cwd=proc.cwd,
            start_new_session=True,
        )
    record = {"pid": child.pid, "exe": os.path.realpath(exe), "argv": proc.argv, "started": time.time()}
    pid_file(run_dir, proc.name).write_text(json.dumps(record) + "\n")
    return child.pid


def stop(name: str, run_dir: Path, grace: float = 20.0) -> str:
    """Stop the process a pid file names; returns what happened."""
    record = read_pid(run_dir, name)
    path = pid_file(run_dir, name)
    if record is None:
        return "not running"
    if not is_ours(record):
        path.unlink(missing_ok=True)
        return "was not running (stale pid file removed)"
    pid = record["pid"]
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and is_ours(record):
        _reap(pid)
        time.sleep(0.1)
    how = "stopped"
    if is_ours(record):
        os.kill(pid, signal.SIGKILL)
        how = "killed after SIGTERM timeout"
        while is_ours(record):
            _reap(pid)
            time.sleep(0.05)
    path.unlink(missing_ok=True)
    return how


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def port_bindable(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def tls_context(ca: Path | None = None, cert: Path | None = None, key: Path | None = None) -> ssl.SSLContext:
    if ca:
        ctx = ssl.create_default_context(cafile=str(ca))
    else:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if cert:
        ctx.load_cert_chain(str(cert), str(key))
    return ctx


def http_ok(url: str, context: ssl.SSLContext | None = None, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout, context=context) as resp:
            return 200 <= resp.status < 300
    except (OSError, ValueError):
        return False


def wait_for(check, what: str, timeout: float, on_fail=None) -> None:
    deadline = time.monotonic() + timeout
    delay = 0.1
    while time.monotonic() < deadline:
        if check():
            return
        if on_fail and on_fail():
            break
        time.sleep(delay)
        delay = min(delay * 1.5, 1.0)
    raise TimeoutError(f"{what} did not become ready within {timeout:.0f} s")

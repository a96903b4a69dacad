"""The lab's one process manager.

A lab process is described by a `Spec` (its argv, where it listens, how to
tell it is healthy) and started detached, in a session of its own, with a
clean environment (no variable of the caller leaks into it). Its pid file,
`.lab/run/<name>.pid`, is JSON: pid, the executable, the kernel's start time
of the process, the stop signal and the addresses it listens on. A process
is the lab's only while /proc/<pid>/exe still points at that executable and
its start time matches, so a recycled pid is never signalled.

Stopping sends the stop signal to the process group, waits, then SIGKILLs
what is left of the group. Listeners are fenced: a process does not start
when one of its addresses is taken, it is stopped again when it listens
anywhere beyond loopback, and `down` fails while an address still answers.
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import json
import os
import pwd
import signal
import socket
import ssl
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from lab.settings import Endpoint

# The only variables a lab process inherits from whoever starts it.
INHERITED_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR", "USER", "LOGNAME")


class ProcessError(Exception):
    """A lab process could not be started or stopped; the message says why."""


@dataclass
class Spec:
    """A lab process: adding one to the lab is one of these in the layer's module."""

    name: str
    argv: list[str]
    listens: list[Endpoint]
    # True when the process answers; called with no argument
    healthy: Callable[[], bool]
    env: dict[str, str] = field(default_factory=dict)
    cwd: Path | None = None
    # run as this user when the lab runs as root (PostgreSQL refuses root)
    user: str | None = None
    stop_signal: int = signal.SIGTERM
    start_timeout: float = 120.0
    stop_timeout: float = 30.0
    # configuration files read at start only: when their content changes, `ensure` restarts the process
    watch_files: tuple[Path, ...] = ()
    # files written before each start, created with mode 0600 (credentials, configs holding
    # them); a function, so that reading a spec for status or stop needs no secret
    private_files: Callable[[], dict[Path, str]] | None = None


# --- pid files ---------------------------------------------------------------------------------


def pid_file(run_dir: Path, name: str) -> Path:
    return run_dir / f"{name}.pid"


def read_record(run_dir: Path, name: str) -> dict | None:
    try:
        record = json.loads(pid_file(run_dir, name).read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and isinstance(record.get("pid"), int) else None


def records(run_dir: Path) -> dict[str, dict]:
    """Every pid file in run_dir: name -> record."""
    found = {}
    for path in sorted(run_dir.glob("*.pid")) if run_dir.is_dir() else []:
        record = read_record(run_dir, path.stem)
        if record is not None:
            found[path.stem] = record
    return found


def start_time(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (/proc/<pid>/stat field 22); None when gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return None if fields[0] in ("Z", "X") else int(fields[19])


def is_ours(record: dict | None) -> bool:
    """The recorded process still runs the recorded executable and is the same process (start time)."""
    if not record:
        return False
    pid = record["pid"]
    try:
        exe = os.path.realpath(os.readlink(f"/proc/{pid}/exe"))
    except OSError:
        return False
    return exe == record.get("exe") and start_time(pid) == record.get("start_time")


def executable(path: str) -> str:
    """What /proc/<pid>/exe will show for argv[0]: the program, or a script's interpreter."""
    real = os.path.realpath(path)
    with contextlib.suppress(OSError), open(real, "rb") as handle:
        head = handle.read(256)
        if head.startswith(b"#!"):
            interpreter = head[2:].split(b"\n", 1)[0].split()[0].decode()
            return os.path.realpath(interpreter)
    return real


def group_members(pgid: int) -> list[int]:
    """Live processes of a process group (the lab starts each process as its group's leader)."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            members.append(int(entry.name))
    return members


def descendants(pid: int) -> list[int]:
    """pid and every process below it."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo += children.get(current, [])
    return found


# --- listening sockets -------------------------------------------------------------------------


def _parse_proc_net(path: str, family: int) -> dict[int, tuple[str, int]]:
    """inode -> (address, port) of the LISTEN sockets in /proc/net/tcp or tcp6."""
    found = {}
    try:
        lines = Path(path).read_text().splitlines()[1:]
    except OSError:
        return found
    for line in lines:
        parts = line.split()
        if len(parts) < 10 or parts[3] != "0A":  # 0A: TCP_LISTEN
            continue
        hex_addr, hex_port = parts[1].split(":")
        raw = bytes.fromhex(hex_addr)
        # the kernel prints each 32-bit word in host (little-endian) order
        raw = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
        ip = ipaddress.ip_address(socket.inet_ntop(family, raw))
        # an IPv6 socket bound to an IPv4-mapped address serves that IPv4 address
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        found[int(parts[9])] = (str(ip), int(hex_port, 16))
    return found


def socket_inodes(pid: int) -> set[int]:
    inodes = set()
    with contextlib.suppress(OSError):
        for fd in os.listdir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
                if target.startswith("socket:["):
                    inodes.add(int(target[8:-1]))
    return inodes


def listening_sockets(pids: list[int]) -> list[tuple[int, str, int]]:
    """(pid, address, port) of every TCP socket the given processes listen on (IPv4-mapped shown as IPv4).

    Each process's sockets are looked up in its own network namespace's
    tables (/proc/PID/net), so a fenced process's sockets are seen too."""
    found = []
    for pid in pids:
        table = _parse_proc_net(f"/proc/{pid}/net/tcp", socket.AF_INET)
        table |= _parse_proc_net(f"/proc/{pid}/net/tcp6", socket.AF_INET6)
        for inode in socket_inodes(pid):
            if inode in table:
                found.append((pid, *table[inode]))
    return sorted(set(found))


def is_loopback(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback


def private_namespace(pid: int) -> bool:
    """True when pid lives in a network namespace other than ours whose only interface is loopback
    (lab/fence.py): what it listens on is reachable from nowhere."""
    try:
        if os.readlink(f"/proc/{pid}/ns/net") == os.readlink("/proc/self/ns/net"):
            return False
        lines = Path(f"/proc/{pid}/net/dev").read_text().splitlines()[2:]
    except OSError:
        return False
    return [line.split(":")[0].strip() for line in lines] == ["lo"]


def beyond_loopback(pids: list[int]) -> list[str]:
    """Listeners reachable from beyond this machine's loopback (a fenced process's are not)."""
    return [
        f"{a}:{p} (pid {pid})"
        for pid, a, p in listening_sockets(pids)
        if not is_loopback(a) and not private_namespace(pid)
    ]


def holder(endpoint: Endpoint) -> str:
    """' (pid N, program)' for the process listening on endpoint's port, or '' when none can be seen."""
    pids = [int(entry.name) for entry in Path("/proc").iterdir() if entry.name.isdigit()]
    for pid, _, port in listening_sockets(pids):
        if port == endpoint.port:
            with contextlib.suppress(OSError):
                return f" (pid {pid}, {Path(f'/proc/{pid}/comm').read_text().strip()})"
            return f" (pid {pid})"
    return ""


# --- probes ------------------------------------------------------------------------------------


def port_open(endpoint: Endpoint, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((endpoint.host, endpoint.port), timeout=timeout):
            return True
    except OSError:
        return False


def port_bindable(endpoint: Endpoint) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((endpoint.host, endpoint.port))
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
    """True when url answers 2xx (False when it does not answer)."""
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
            raise ProcessError(f"{what} exited before it became ready")
        time.sleep(delay)
        delay = min(delay * 1.5, 1.0)
    raise ProcessError(f"{what} did not become ready within {timeout:.0f} s")


# --- the manager -------------------------------------------------------------------------------


def _wait_bindable(endpoints: list[Endpoint], timeout: float = 10.0) -> None:
    """After a stop: the kernel may hold a stopped listener's address a moment longer."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not all(port_bindable(e) for e in endpoints):
        time.sleep(0.2)


def files_digest(paths) -> str:
    """sha256 over the names and contents of `paths` (absent files count as empty)."""
    digest = hashlib.sha256()
    for path in paths:
        digest.update(str(path).encode() + b"\0")
        digest.update(Path(path).read_bytes() if Path(path).is_file() else b"")
    return digest.hexdigest()


def clean_env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: os.environ[k] for k in INHERITED_ENV if k in os.environ}
    env.update(extra)
    return env


def write_private(path: Path, text: str, owner: str | None = None) -> None:
    """Write a file created with mode 0600 (never chmodded after), optionally handed to `owner`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        if owner:
            entry = pwd.getpwnam(owner)
            os.fchown(handle.fileno(), entry.pw_uid, entry.pw_gid)
        handle.write(text)


def run_as(user: str | None) -> str | None:
    """The user to drop to: only when the lab runs as root."""
    return user if user and os.geteuid() == 0 else None


class Manager:
    """Start, stop and report lab processes; all share one run and log directory."""

    def __init__(self, run_dir: Path, log_dir: Path):
        self.run_dir = run_dir
        self.log_dir = log_dir

    def log_path(self, name: str) -> Path:
        return self.log_dir / f"{name}.log"

    def record(self, name: str) -> dict | None:
        return read_record(self.run_dir, name)

    def state(self, spec: Spec) -> str:
        """running | unhealthy | crashed | stopped."""
        record = self.record(spec.name)
        if record is None:
            return "stopped"
        if not is_ours(record):
            return "crashed"
        return "running" if spec.healthy() else "unhealthy"

    def pids(self, name: str) -> list[int]:
        """The process and its descendants, while it is the lab's."""
        record = self.record(name)
        return descendants(record["pid"]) if is_ours(record) else []

    def start(self, spec: Spec) -> int:
        """Start spec's process and wait until it is healthy; returns its pid."""
        # a listener stopped a moment ago may hold its address a little longer
        _wait_bindable(spec.listens)
        busy = [f"{e.address}{holder(e)}" for e in spec.listens if not port_bindable(e)]
        if busy:
            raise ProcessError(f"cannot start {spec.name}: {', '.join(busy)} already in use by another process")
        user = run_as(spec.user)
        for path, text in (spec.private_files() if spec.private_files else {}).items():
            write_private(path, text, owner=user)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.log_path(spec.name)
        if user and not log_path.exists():
            log_path.touch()
        with open(log_path, "ab") as log:
            child = subprocess.Popen(
                spec.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=clean_env(spec.env),
                cwd=spec.cwd,
                user=user,
                group=pwd.getpwnam(user).pw_gid if user else None,
                extra_groups=[] if user else None,
                start_new_session=True,
            )
        record = {
            "name": spec.name,
            "pid": child.pid,
            "exe": executable(spec.argv[0]),
            "start_time": start_time(child.pid),
            "stop_signal": int(spec.stop_signal),
            "stop_timeout": float(spec.stop_timeout),
            "watched": files_digest(spec.watch_files),
            "listens": [e.address for e in spec.listens],
            "started": time.time(),
        }
        pid_file(self.run_dir, spec.name).write_text(json.dumps(record) + "\n")
        try:
            wait_for(spec.healthy, spec.name, spec.start_timeout, on_fail=lambda: child.poll() is not None)
            if not is_ours(record):
                raise ProcessError(f"{spec.name} exited during start-up")
            stray = beyond_loopback(descendants(child.pid))
            if stray:
                raise ProcessError(f"{spec.name} listens beyond loopback: {', '.join(stray)}")
        except ProcessError as exc:
            self.stop(spec.name)
            tail = log_path.read_text(errors="replace")[-2000:] if log_path.is_file() else ""
            raise ProcessError(f"{exc}; see {log_path}\n{tail}") from exc
        return child.pid

    def stop(self, name: str, grace: float | None = None) -> str:
        """Stop the process a pid file names and what is left of its group; returns what happened."""
        record = self.record(name)
        path = pid_file(self.run_dir, name)
        if record is None:
            return "not running"
        pid = record["pid"]
        if not is_ours(record):
            path.unlink(missing_ok=True)
            return "was not running (stale pid file removed)"
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, record.get("stop_signal", signal.SIGTERM))
        deadline = time.monotonic() + (grace if grace is not None else record.get("stop_timeout", 30.0))
        while time.monotonic() < deadline and group_members(pid):
            _reap(pid)
            time.sleep(0.1)
        how = "stopped"
        if group_members(pid):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
            how = "killed after the stop signal timed out"
            while group_members(pid):
                _reap(pid)
                time.sleep(0.05)
        _reap(pid)
        path.unlink(missing_ok=True)
        return how

    def ensure(self, spec: Spec, log=print) -> bool:
        """Start spec unless it runs healthy; True when started now."""
        state = self.state(spec)
        why = f"{spec.name} is {state}"
        if (
            state == "running"
            and spec.watch_files
            and (self.record(spec.name) or {}).get("watched") != files_digest(spec.watch_files)
        ):
            state, why = "outdated", f"{spec.name}'s configuration changed"
        if state == "running":
            return False
        if state != "stopped":  # crashed, unhealthy or outdated
            log(f"lab: {why}; restarting it")
            self.stop(spec.name, spec.stop_timeout)
        pid = self.start(spec)
        log(f"lab: started {spec.name} (pid {pid}, log {self.log_path(spec.name)})")
        return True

    def down(self, specs: list[Spec], log=print) -> list[str]:
        """Stop specs in reverse order; fail when one of their addresses still answers."""
        changes = []
        for spec in reversed(specs):
            result = self.stop(spec.name, spec.stop_timeout)
            if result != "not running":
                log(f"lab: {spec.name} {result}")
                changes.append(spec.name)
        still = [e.address for s in specs if s.name in changes for e in s.listens if port_open(e)]
        if still:
            raise ProcessError(f"stopped, but something still listens on {', '.join(still)}")
        return changes

    def status_lines(self, specs: list[Spec]) -> tuple[bool, list[str]]:
        lines, healthy = [], True
        for spec in specs:
            state = self.state(spec)
            record = self.record(spec.name) or {}
            detail = ", ".join(e.address for e in spec.listens)
            if state == "running":
                detail = f"pid {record['pid']}  {detail}"
            elif state == "crashed":
                detail = f"pid {record.get('pid')} is gone; see {self.log_path(spec.name)}"
            lines.append(f"{spec.name:<24} {state:<10} {detail}")
            healthy &= state == "running"
        return healthy, lines


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


# --- the health endpoint of the lab's own watchers (executor stand-in, cluster egress) ----------


class ApiContact:
    """When a lab process last heard from the API server; it is healthy while that is recent."""

    def __init__(self, stale_after: float = 30.0):
        self.stale_after = stale_after
        self.last_contact = 0.0

    def touched(self) -> None:
        self.last_contact = time.monotonic()

    def healthy(self) -> bool:
        return time.monotonic() - self.last_contact < self.stale_after


def serve_health(healthy: Callable[[], bool], address: str) -> ThreadingHTTPServer:
    """GET /healthz on address (HOST:PORT, loopback): 200 while healthy(), else 503."""

    class Health(BaseHTTPRequestHandler):
        def do_GET(self):  # http.server calls it by this name
            ok = self.path == "/healthz" and healthy()
            self.send_response(200 if ok else 503)
            self.end_headers()
            self.wfile.write(b"ok\n" if ok else b"no contact with the API server\n")

        def log_message(self, *args):
            pass

    host, port = address.rsplit(":", 1)
    server = ThreadingHTTPServer((host, int(port)), Health)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server

"""Run a program in a network namespace of its own, reached only through Unix sockets.

Some controllers listen on every interface and offer no flag to change it
(MetalLB's controller binds its metrics and health endpoints to 0.0.0.0).
The lab does not let a process it starts listen beyond loopback, so it runs
such a program fenced: in a private network namespace whose only interface is
its own loopback. Whatever the program binds there is reachable from nowhere.

    python -m lab.fence --dir DIR [--reach HOST:PORT]... [--expose NAME=PORT]... -- PROGRAM ARG...

--reach HOST:PORT  the program may connect to HOST:PORT (the API server): inside
                   the namespace the fence listens on HOST:PORT and relays each
                   connection over DIR/reach-HOST-PORT.sock to the real HOST:PORT.
--expose NAME=PORT the lab may connect to the program's 127.0.0.1:PORT inside the
                   namespace (its health endpoint) through DIR/NAME.sock.

Process tree: the fence (host namespace; relays the reach sockets) -> the fence
in the namespace (relays both ways) -> the program. All share one process
group, so the lab's process manager stops them together. Needs CAP_SYS_ADMIN
(the lab runs as root where it starts controllers).
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import fcntl
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
from pathlib import Path

CLONE_NEWNET = 0x40000000
SIOCGIFFLAGS, SIOCSIFFLAGS = 0x8913, 0x8914
IFF_UP = 0x1


def reach_socket(directory: Path, host: str, port: int) -> Path:
    return directory / f"reach-{host}-{port}.sock"


def expose_socket(directory: Path, name: str) -> Path:
    return directory / f"{name}.sock"


def unix_connect(path: Path, timeout: float = 2.0) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    sock.connect(str(path))
    sock.settimeout(None)
    return sock


def unix_http_ok(path: Path, url_path: str = "/healthz", timeout: float = 2.0) -> bool:
    """True when an HTTP server behind the Unix socket path answers url_path with 2xx."""
    try:
        with unix_connect(path, timeout) as sock:
            sock.settimeout(timeout)
            sock.sendall(f"GET {url_path} HTTP/1.0\r\nHost: localhost\r\n\r\n".encode())
            status = sock.recv(64).split(b" ", 2)
    except OSError:
        return False
    return len(status) > 1 and status[1].startswith(b"2")


# --- relaying -----------------------------------------------------------------------------------


def pump(src: socket.socket, dst: socket.socket) -> None:
    try:
        while data := src.recv(65536):
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for sock, how in ((dst, socket.SHUT_WR), (src, socket.SHUT_RD)):
            with contextlib.suppress(OSError):
                sock.shutdown(how)


def _relay(client: socket.socket, connect) -> None:
    try:
        upstream = connect()
    except OSError:
        client.close()
        return
    back = threading.Thread(target=pump, args=(upstream, client), daemon=True)
    back.start()
    pump(client, upstream)
    back.join()
    client.close()
    upstream.close()


def accept_loop(listener: socket.socket, handle) -> threading.Thread:
    """Accept on listener forever; handle(client) each connection in a thread of its own."""

    def loop():
        while True:
            client, _ = listener.accept()
            threading.Thread(target=handle, args=(client,), daemon=True).start()

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    return thread


def serve(listener: socket.socket, connect) -> threading.Thread:
    """Accept on listener forever; relay each connection to a fresh connect()."""
    return accept_loop(listener, lambda client: _relay(client, connect))


def unix_listener(path: Path) -> socket.socket:
    path.unlink(missing_ok=True)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(path))
    os.chmod(path, 0o600)
    sock.listen(64)
    return sock


def tcp_listener(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(64)
    return sock


# --- the namespace ------------------------------------------------------------------------------


def enter_private_namespace() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"unshare(CLONE_NEWNET): {os.strerror(err)} (the fence needs CAP_SYS_ADMIN)")
    # bring the namespace's own loopback up (ip link set lo up, without iproute2)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        request = struct.pack("16sh", b"lo", 0)
        flags = struct.unpack("16sh", fcntl.ioctl(sock, SIOCGIFFLAGS, request))[1]
        fcntl.ioctl(sock, SIOCSIFFLAGS, struct.pack("16sh", b"lo", flags | IFF_UP))


def inside(args, reaches: list[tuple[str, int]], exposes: list[tuple[str, int]]) -> int:
    enter_private_namespace()
    for host, port in reaches:
        path = reach_socket(args.dir, host, port)
        serve(tcp_listener(host, port), lambda p=path: unix_connect(p))
    for name, port in exposes:
        serve(
            unix_listener(expose_socket(args.dir, name)),
            lambda p=port: socket.create_connection(("127.0.0.1", p), timeout=2),
        )
    child = subprocess.Popen(args.program)
    signal.signal(signal.SIGTERM, lambda *_: child.terminate())
    return child.wait()


def main(argv: list[str] | None = None) -> int:
    top = argparse.ArgumentParser(prog="python -m lab.fence", description=__doc__.splitlines()[0])
    top.add_argument("--dir", type=Path, required=True, help="where the relay sockets live (made 0700)")
    top.add_argument("--reach", action="append", default=[], metavar="HOST:PORT")
    top.add_argument("--expose", action="append", default=[], metavar="NAME=PORT")
    top.add_argument("program", nargs=argparse.REMAINDER)
    args = top.parse_args(argv)
    if args.program[:1] == ["--"]:
        args.program = args.program[1:]
    if not args.program:
        top.error("no program to run")
    reaches = [(h, int(p)) for h, p in (r.rsplit(":", 1) for r in args.reach)]
    exposes = [(n, int(p)) for n, p in (e.split("=", 1) for e in args.expose)]
    args.dir.mkdir(parents=True, exist_ok=True)
    os.chmod(args.dir, 0o700)
    # host side first: the namespace side connects to these sockets
    listeners = [(unix_listener(reach_socket(args.dir, h, p)), h, p) for h, p in reaches]
    pid = os.fork()
    if pid == 0:
        for sock, *_ in listeners:
            sock.close()
        try:
            code = inside(args, reaches, exposes)
        except Exception as exc:
            print(f"lab.fence: {exc}", file=sys.stderr, flush=True)
            code = 2
        os._exit(code)
    for sock, host, port in listeners:
        serve(sock, lambda h=host, p=port: socket.create_connection((h, p), timeout=5))
    signal.signal(signal.SIGTERM, lambda *_: os.kill(pid, signal.SIGTERM))
    while True:
        try:
            _, status = os.waitpid(pid, 0)
            return os.waitstatus_to_exitcode(status)
        except InterruptedError:
            continue


if __name__ == "__main__":
    sys.exit(main())

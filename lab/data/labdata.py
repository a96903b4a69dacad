"""Start, stop and report the lab's data services: MinIO, PostgreSQL, MLflow.

Each service is a real program listening on loopback only, with its state in
.lab/data/ (git-ignored):

  service      address               state
  minio        127.0.0.1:19000 (S3)   .lab/data/minio/
               127.0.0.1:19001 (console)
  postgresql   127.0.0.1:15432        .lab/data/postgresql/
  mlflow       127.0.0.1:15000        (stateless: PostgreSQL + MinIO)

Programs come from the pins in versions.yml (data_services) and are cached
outside the repo, keyed by version, under ${BAREMETAL_CACHE:-~/.cache/baremetal-mlops}:
  minio/<pseudo-version>/bin/minio   built with `go install` from the Go module
  mlflow/<key>/venv                  virtual environment with the pinned packages
PostgreSQL is Debian's (package postgresql). MLflow runs with the flags of
the in-cluster deployment: a PostgreSQL backend store and
--default-artifact-root s3://mlflow-artifacts on the MinIO endpoint.

Usage: labdata.py up|down|status|env [service ...]
`down` stops only what a pid file names, after checking that the pid is
still the program the lab started.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / ".lab" / "data"
RUN = DATA / "run"
LOGS = DATA / "logs"
CREDENTIALS = DATA / "credentials.json"

HOST = "127.0.0.1"
MINIO_PORT = 19000
MINIO_CONSOLE_PORT = 19001
POSTGRES_PORT = 15432
MLFLOW_PORT = 15000
ARTIFACT_BUCKET = "mlflow-artifacts"
SERVICES = ("minio", "postgresql", "mlflow")


class LabError(Exception):
    """A service could not be built, started or stopped."""


def log(msg: str) -> None:
    print(f"labdata: {msg}", file=sys.stderr, flush=True)


def cache_root() -> Path:
    base = os.environ.get("BAREMETAL_CACHE") or os.path.join(Path.home(), ".cache", "baremetal-mlops")
    return Path(base)


def pins() -> dict:
    with open(ROOT / "versions.yml", encoding="utf-8") as handle:
        return yaml.safe_load(handle)["data_services"]


# ---------------------------------------------------------------- credentials


def credentials() -> dict:
    """Lab credentials, generated once and kept in .lab/data (mode 0600)."""
    if CREDENTIALS.is_file():
        return json.loads(CREDENTIALS.read_text(encoding="utf-8"))
    DATA.mkdir(parents=True, exist_ok=True)
    creds = {
        "minio_root_user": "lab-admin",
        "minio_root_password": secrets.token_hex(16),
        "postgres_superuser_password": secrets.token_hex(16),
        "mlflow_db_user": "mlflow",
        "mlflow_db_password": secrets.token_hex(16),
    }
    fd = os.open(CREDENTIALS, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(creds, handle, indent=2)
    return creds


def client_env() -> dict:
    """What a client of the lab needs: the same variable names the cluster's Secrets use."""
    creds = credentials()
    return {
        "MINIO_ENDPOINT": f"http://{HOST}:{MINIO_PORT}",
        "MINIO_ACCESS_KEY": creds["minio_root_user"],
        "MINIO_SECRET_KEY": creds["minio_root_password"],
        "MLFLOW_TRACKING_URI": f"http://{HOST}:{MLFLOW_PORT}",
        "MLFLOW_S3_ENDPOINT_URL": f"http://{HOST}:{MINIO_PORT}",
        "AWS_ACCESS_KEY_ID": creds["minio_root_user"],
        "AWS_SECRET_ACCESS_KEY": creds["minio_root_password"],
        "AWS_DEFAULT_REGION": "us-east-1",
        "MLFLOW_BACKEND_STORE_URI": (
            f"postgresql://{creds['mlflow_db_user']}:{creds['mlflow_db_password']}@{HOST}:{POSTGRES_PORT}/mlflow"
        ),
    }


# ------------------------------------------------------------------- helpers


def port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((HOST, port)) == 0


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return 200 <= response.status < 300
    except (urllib.error.URLError, OSError):
        return False


def wait_for(check, what: str, timeout: float, proc: subprocess.Popen | None = None, logfile: Path | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        if proc is not None and proc.poll() is not None:
            break
        time.sleep(0.5)
    tail = logfile.read_text(encoding="utf-8", errors="replace")[-3000:] if logfile and logfile.is_file() else ""
    raise LabError(f"{what} did not become ready within {timeout:.0f}s\n{tail}")


def pid_alive(pid: int, marker: str) -> bool:
    """True when `pid` runs and its command line contains `marker` (guards against pid reuse)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return False
    return marker in cmdline


def read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def spawn(name: str, argv: list[str], env: dict) -> subprocess.Popen:
    RUN.mkdir(parents=True, exist_ok=True)
    LOGS.mkdir(parents=True, exist_ok=True)
    logfile = LOGS / f"{name}.log"
    with open(logfile, "ab") as out:
        # A session of its own: `down` ends the whole process group (MLflow
        # forks its web workers) and nothing else.
        proc = subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, start_new_session=True
        )
    (RUN / f"{name}.pid").write_text(f"{proc.pid}\n")
    return proc


def find_orphans(needles: list[str]) -> list[int]:
    """Pids of session leaders whose command line holds every needle.

    A service this lab started but whose pid file is gone (say .lab/ was
    deleted under it) is still recognisable: its command line names the
    cached binary and this checkout's data directory or port.
    """
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            leader = os.getsid(int(entry.name)) == int(entry.name)
        except OSError:
            continue
        if leader and all(needle in cmdline for needle in needles):
            found.append(int(entry.name))
    return found


def terminate(pid: int, marker: str, timeout: float = 30) -> None:
    """End the process group `pid` leads: SIGTERM, then SIGKILL after `timeout`."""
    os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and pid_alive(pid, marker):
        time.sleep(0.2)
    if pid_alive(pid, marker):
        os.killpg(pid, signal.SIGKILL)


def stop_group(name: str, marker: str, orphan_needles: list[str]) -> bool:
    pidfile = RUN / f"{name}.pid"
    pid = read_pid(pidfile)
    pids = [pid] if pid is not None and pid_alive(pid, marker) else []
    if not pids:
        pids = find_orphans(orphan_needles)
        if pids:
            log(f"{name}: no pid file, but found its process {', '.join(map(str, pids))}")
    for each in pids:
        terminate(each, marker)
    pidfile.unlink(missing_ok=True)
    return bool(pids)


# --------------------------------------------------------------- the programs


@dataclass(frozen=True)
class MinioBuild:
    module: str
    version: str

    @property
    def binary(self) -> Path:
        return cache_root() / "minio" / self.version / "bin" / "minio"

    def ensure(self) -> Path:
        if self.binary.is_file():
            return self.binary
        if shutil.which("go") is None:
            raise LabError("Go is needed to build MinIO from its module (go install); none is on PATH")
        gobin = self.binary.parent.with_name("bin.partial")
        shutil.rmtree(gobin, ignore_errors=True)
        gobin.mkdir(parents=True)
        env = dict(os.environ, GOTOOLCHAIN="local", CGO_ENABLED="0", GOBIN=str(gobin), GOFLAGS="-trimpath")
        log(f"building MinIO {self.version} from {self.module} (first time only)")
        started = time.monotonic()
        result = subprocess.run(
            ["nice", "-n", "10", "go", "install", f"{self.module}@{self.version}"],
            env=env,
            cwd="/",
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise LabError(f"go install {self.module}@{self.version} failed:\n{result.stderr[-3000:]}")
        gobin.rename(self.binary.parent)
        log(f"built MinIO in {time.monotonic() - started:.0f}s")
        return self.binary


@dataclass(frozen=True)
class PythonEnv:
    name: str
    python: str
    packages: tuple[str, ...]

    @property
    def key(self) -> str:
        text = f"py{self.python}\n" + "\n".join(sorted(self.packages))
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    @property
    def venv(self) -> Path:
        return cache_root() / self.name / self.key / "venv"

    @property
    def stamp(self) -> Path:
        return self.venv.parent / "complete"

    def ensure(self) -> Path:
        if self.stamp.is_file():
            return self.venv
        interpreter = shutil.which(f"python{self.python}")
        if interpreter is None:
            raise LabError(f"python{self.python} is needed for the {self.name} environment")
        shutil.rmtree(self.venv.parent, ignore_errors=True)
        self.venv.parent.mkdir(parents=True)
        log(f"creating the {self.name} environment ({', '.join(self.packages)})")
        started = time.monotonic()
        subprocess.run([interpreter, "-m", "venv", str(self.venv)], check=True)
        pip = [str(self.venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        result = subprocess.run(["nice", "-n", "10", *pip, *self.packages], capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise LabError(f"pip install into {self.venv} failed:\n{result.stderr[-3000:]}")
        (self.venv.parent / "packages.txt").write_text("\n".join(self.packages) + "\n")
        self.stamp.touch()
        log(f"created the {self.name} environment in {time.monotonic() - started:.0f}s")
        return self.venv


def mlflow_env() -> PythonEnv:
    spec = pins()["mlflow_server"]
    return PythonEnv("mlflow", str(spec["python"]), tuple(spec["packages"]))


def postgres_bin() -> Path:
    """Debian's PostgreSQL (package postgresql): the pinned major, else the newest installed."""
    pinned = Path("/usr/lib/postgresql") / str(pins().get("postgresql", "")) / "bin"
    if (pinned / "pg_ctl").is_file():
        return pinned
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=lambda p: int(p.parent.parent.name), reverse=True
    )
    if not found:
        raise LabError("PostgreSQL is not installed: apt-get install postgresql (scripts/system-packages/data.txt)")
    return found[0].parent


def as_postgres_user(argv: list[str]) -> list[str]:
    # PostgreSQL refuses to run as root; Debian's package creates `postgres`.
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *argv]
    return argv


# ------------------------------------------------------------------ services


def minio_binary() -> Path:
    spec = pins()["minio"]
    return MinioBuild(spec["module"], spec["version"]).binary


def minio_needles() -> list[str]:
    return [str(minio_binary()), f"{HOST}:{MINIO_PORT}", str(DATA / "minio")]


def mlflow_needles() -> list[str]:
    return [str(mlflow_env().venv / "bin" / "mlflow"), "server", f"--port {MLFLOW_PORT}"]


def minio_up() -> bool:
    name = "minio"
    pid = read_pid(RUN / f"{name}.pid")
    if pid and pid_alive(pid, "minio server"):
        return False
    # Left over from a data directory that was deleted under it.
    stop_group(name, "minio server", minio_needles())
    if port_open(MINIO_PORT):
        raise LabError(f"port {MINIO_PORT} is taken by a program the lab did not start")
    spec = pins()["minio"]
    binary = MinioBuild(spec["module"], spec["version"]).ensure()
    creds = credentials()
    datadir = DATA / "minio"
    datadir.mkdir(parents=True, exist_ok=True)
    env = dict(
        os.environ,
        MINIO_ROOT_USER=creds["minio_root_user"],
        MINIO_ROOT_PASSWORD=creds["minio_root_password"],
        MINIO_UPDATE="off",
        MINIO_CALLHOME_ENABLE="off",
    )
    argv = [str(binary), "server", "--quiet", "--address", f"{HOST}:{MINIO_PORT}"]
    argv += ["--console-address", f"{HOST}:{MINIO_CONSOLE_PORT}", str(datadir)]
    proc = spawn(name, argv, env)
    wait_for(lambda: http_ok(f"http://{HOST}:{MINIO_PORT}/minio/health/ready"), "MinIO", 60, proc, LOGS / "minio.log")
    return True


def postgres_up() -> bool:
    bindir = postgres_bin()
    datadir = DATA / "postgresql"
    creds = credentials()
    if (datadir / "postmaster.pid").is_file() and pg_running(bindir, datadir):
        return False
    if port_open(POSTGRES_PORT):
        raise LabError(f"port {POSTGRES_PORT} is taken by a program the lab did not start")
    LOGS.mkdir(parents=True, exist_ok=True)
    if not (datadir / "PG_VERSION").is_file():
        shutil.rmtree(datadir, ignore_errors=True)
        datadir.mkdir(parents=True)
        pwfile = DATA / "run" / "pg-superuser.pw"
        pwfile.parent.mkdir(parents=True, exist_ok=True)
        pwfile.write_text(creds["postgres_superuser_password"] + "\n")
        if os.geteuid() == 0:
            shutil.chown(datadir, "postgres", "postgres")
            shutil.chown(pwfile, "postgres", "postgres")
        pwfile.chmod(0o600)
        initdb = [str(bindir / "initdb"), "-D", str(datadir), "-U", "postgres", "--auth=scram-sha-256"]
        initdb += ["--pwfile", str(pwfile), "--encoding=UTF8", "--locale=C.UTF-8"]
        result = subprocess.run(as_postgres_user(initdb), capture_output=True, text=True, check=False)
        pwfile.unlink()
        if result.returncode != 0:
            raise LabError(f"initdb failed:\n{result.stdout[-2000:]}{result.stderr[-2000:]}")
    logfile = LOGS / "postgresql.log"
    if os.geteuid() == 0:
        logfile.touch()
        shutil.chown(logfile, "postgres", "postgres")
    # TCP on loopback only, no Unix socket: a socket path under a deep
    # checkout can exceed the 107-byte limit.
    options = f"-c listen_addresses={HOST} -p {POSTGRES_PORT} -c unix_socket_directories=''"
    start = [str(bindir / "pg_ctl"), "-D", str(datadir), "-l", str(logfile), "-o", options, "-w", "-t", "60", "start"]
    result = subprocess.run(as_postgres_user(start), capture_output=True, text=True, check=False)
    if result.returncode != 0:
        tail = logfile.read_text(errors="replace")[-2000:]
        raise LabError(f"pg_ctl start failed:\n{result.stdout}{result.stderr}\n{tail}")
    ensure_mlflow_database(bindir, creds)
    return True


def pg_running(bindir: Path, datadir: Path) -> bool:
    result = subprocess.run(
        as_postgres_user([str(bindir / "pg_ctl"), "-D", str(datadir), "status"]),
        capture_output=True,
        text=True,
        check=False,
    )
    return result.returncode == 0


def psql(bindir: Path, creds: dict, sql: str, database: str = "postgres") -> str:
    env = dict(os.environ, PGPASSWORD=creds["postgres_superuser_password"])
    argv = [str(bindir / "psql"), "-h", HOST, "-p", str(POSTGRES_PORT), "-U", "postgres", "-d", database]
    argv += ["-v", "ON_ERROR_STOP=1", "-tAc", sql]
    result = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise LabError(f"psql failed: {result.stderr.strip()}")
    return result.stdout.strip()


def ensure_mlflow_database(bindir: Path, creds: dict) -> None:
    user, password = creds["mlflow_db_user"], creds["mlflow_db_password"]
    if psql(bindir, creds, f"SELECT 1 FROM pg_roles WHERE rolname = '{user}'") != "1":
        psql(bindir, creds, f"CREATE ROLE {user} LOGIN PASSWORD '{password}'")
    if psql(bindir, creds, "SELECT 1 FROM pg_database WHERE datname = 'mlflow'") != "1":
        psql(bindir, creds, f"CREATE DATABASE mlflow OWNER {user}")


def ensure_artifact_bucket(venv: Path) -> None:
    """Create the artifact root's bucket (boto3 from the MLflow environment)."""
    script = (
        "import os, boto3, botocore\n"
        "s3 = boto3.client('s3', endpoint_url=os.environ['MLFLOW_S3_ENDPOINT_URL'])\n"
        "try:\n"
        f"    s3.head_bucket(Bucket='{ARTIFACT_BUCKET}')\n"
        "except botocore.exceptions.ClientError:\n"
        f"    s3.create_bucket(Bucket='{ARTIFACT_BUCKET}')\n"
    )
    env = dict(os.environ, **client_env())
    result = subprocess.run(
        [str(venv / "bin" / "python"), "-c", script], env=env, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise LabError(f"creating bucket {ARTIFACT_BUCKET} failed:\n{result.stderr[-2000:]}")


def mlflow_up() -> bool:
    name = "mlflow"
    pid = read_pid(RUN / f"{name}.pid")
    if pid and pid_alive(pid, "mlflow server"):
        return False
    stop_group(name, "mlflow server", mlflow_needles())
    if port_open(MLFLOW_PORT):
        raise LabError(f"port {MLFLOW_PORT} is taken by a program the lab did not start")
    venv = mlflow_env().ensure()
    ensure_artifact_bucket(venv)
    cenv = client_env()
    env = dict(os.environ)
    for key in ("MLFLOW_S3_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION"):
        env[key] = cenv[key]
    # MLflow 3 starts a pool of job consumers (GenAI trace rollups, prompt
    # optimisation) the registry does not use; on two cores they cost seconds.
    env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"
    argv = [str(venv / "bin" / "mlflow"), "server", "--host", HOST, "--port", str(MLFLOW_PORT)]
    argv += ["--backend-store-uri", cenv["MLFLOW_BACKEND_STORE_URI"]]
    argv += ["--default-artifact-root", f"s3://{ARTIFACT_BUCKET}", "--workers", "1"]
    proc = spawn(name, argv, env)
    # The first start migrates the database schema.
    wait_for(lambda: http_ok(f"http://{HOST}:{MLFLOW_PORT}/health"), "MLflow", 240, proc, LOGS / "mlflow.log")
    return True


def minio_down() -> bool:
    return stop_group("minio", "minio server", minio_needles())


def postgres_down() -> bool:
    datadir = DATA / "postgresql"
    if not (datadir / "postmaster.pid").is_file():
        return False
    bindir = postgres_bin()
    if not pg_running(bindir, datadir):
        return False
    stop = [str(bindir / "pg_ctl"), "-D", str(datadir), "-m", "fast", "-w", "stop"]
    result = subprocess.run(as_postgres_user(stop), capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise LabError(f"pg_ctl stop failed: {result.stderr.strip()}")
    return True


def mlflow_down() -> bool:
    return stop_group("mlflow", "mlflow server", mlflow_needles())


UP = {"minio": minio_up, "postgresql": postgres_up, "mlflow": mlflow_up}
DOWN = {"minio": minio_down, "postgresql": postgres_down, "mlflow": mlflow_down}
PORTS = {"minio": MINIO_PORT, "postgresql": POSTGRES_PORT, "mlflow": MLFLOW_PORT}
# MLflow needs the other two.
NEEDS = {"mlflow": ("minio", "postgresql")}


def ordered(names) -> list[str]:
    wanted = set(names)
    for name in list(wanted):
        wanted.update(NEEDS.get(name, ()))
    return [s for s in SERVICES if s in wanted]


def up(names=SERVICES) -> list[str]:
    """Start the named services (and what they need); return those this call started."""
    started = []
    for name in ordered(names):
        t0 = time.monotonic()
        if UP[name]():
            started.append(name)
            log(f"{name} up on {HOST}:{PORTS[name]} in {time.monotonic() - t0:.1f}s")
        else:
            log(f"{name} already running on {HOST}:{PORTS[name]}")
    return started


def down(names=SERVICES) -> list[str]:
    """Stop the named services, dependents first; return those this call stopped."""
    stopped = []
    for name in reversed([s for s in SERVICES if s in set(names)]):
        if DOWN[name]():
            stopped.append(name)
            log(f"{name} stopped")
        if port_open(PORTS[name]):
            raise LabError(f"port {PORTS[name]} still open after stopping {name}")
    return stopped


def status() -> dict:
    health = {
        "minio": lambda: http_ok(f"http://{HOST}:{MINIO_PORT}/minio/health/ready"),
        "postgresql": lambda: port_open(POSTGRES_PORT),
        "mlflow": lambda: http_ok(f"http://{HOST}:{MLFLOW_PORT}/health"),
    }
    return {name: {"address": f"{HOST}:{PORTS[name]}", "healthy": health[name]()} for name in SERVICES}


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("up", "down", "status", "env"):
        print(__doc__, file=sys.stderr)
        return 2
    command, names = argv[0], argv[1:] or list(SERVICES)
    unknown = set(names) - set(SERVICES)
    if unknown:
        print(f"unknown service(s): {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2
    try:
        if command == "up":
            up(names)
        elif command == "down":
            down(names)
        elif command == "env":
            for key, value in client_env().items():
                print(f"export {key}={value}")
        else:
            report = status()
            for name, state in report.items():
                print(f"{name:<11} {state['address']:<16} {'healthy' if state['healthy'] else 'down'}")
            return 0 if all(s["healthy"] for s in report.values()) else 1
    except LabError as exc:
        log(str(exc))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""The lab's data services: MinIO, PostgreSQL, the MLflow tracking server and the backup site.

Each is a real program listening on loopback only (addresses: `lab_listen`
in the lab inventory), with its state in .lab/data/ (git-ignored). Programs
come from the pins in versions.yml (data_services) and are cached outside the
repo, keyed by version, under ${BAREMETAL_CACHE:-~/.cache/baremetal-mlops}:
  minio/<pseudo-version>/bin/minio   built with `go install` from the Go module
  mlflow/<key>/venv                  virtual environment with the pinned packages
PostgreSQL is Debian's (package postgresql), run in the foreground as user
`postgres` when the lab runs as root. MLflow runs with the flags of the
in-cluster deployment: a PostgreSQL backend store and
--default-artifact-root s3://<lab_mlflow_artifact_bucket> on the MinIO endpoint.
`minio_backup` is a second MinIO (same cached binary, its own data directory
and root account) that playbooks/backup.yml mirrors to: the backup site.

Credentials come from the lab inventory (generated secrets.yml) and never
appear in a command line or a process environment: MinIO reads them from
files (MINIO_ROOT_USER_FILE, MINIO_ROOT_PASSWORD_FILE), initdb from --pwfile,
psql and MLflow's database driver from a pgpass file (PGPASSFILE), SQL that
holds a password reaches psql on stdin, and S3 clients read a shared
credentials file (AWS_SHARED_CREDENTIALS_FILE). Every such file is created
with mode 0600.
"""

from __future__ import annotations

import os
import pwd
import subprocess
from pathlib import Path

from lab import processes as proc
from lab import toolchain
from lab.settings import Settings

SERVICES = ("minio", "minio_backup", "postgresql", "mlflow")


class DataError(Exception):
    """A data service could not be built, prepared, started or stopped."""


class Data:
    """The data services of one lab, configured from its settings."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.pins = settings.versions["data_services"]
        self.manager = proc.Manager(settings.run_dir, settings.log_dir)
        self.minio = settings.endpoint("minio")
        self.minio_console = settings.endpoint("minio_console")
        self.minio_backup = settings.endpoint("minio_backup")
        self.minio_backup_console = settings.endpoint("minio_backup_console")
        self.postgres = settings.endpoint("postgresql")
        self.mlflow = settings.endpoint("mlflow")
        self.bucket = str(settings.var("lab_mlflow_artifact_bucket"))

    @property
    def home(self) -> Path:
        return self.settings.state / "data"

    @property
    def secrets_dir(self) -> Path:
        return self.home / "secrets"

    @property
    def mlflow_env(self) -> toolchain.PythonEnv:
        return toolchain.python_env("mlflow", self.pins["mlflow_server"])

    # --- credentials as files ------------------------------------------------------------------

    @property
    def aws_credentials(self) -> Path:
        return self.secrets_dir / "aws-credentials"

    @property
    def mlflow_pgpass(self) -> Path:
        return self.secrets_dir / "mlflow.pgpass"

    @property
    def admin_pgpass(self) -> Path:
        return self.secrets_dir / "postgres.pgpass"

    def write_client_files(self) -> None:
        """The S3 credentials file and MLflow's pgpass, mode 0600 from creation."""
        s = self.settings
        proc.write_private(
            self.aws_credentials,
            f"[default]\naws_access_key_id = {s.minio_root_user}\naws_secret_access_key = {s.minio_root_password}\n",
        )
        db = s.mlflow_db
        proc.write_private(self.mlflow_pgpass, f"{self.postgres.address}:{db['name']}:{db['user']}:{db['password']}\n")

    def client_env(self) -> dict[str, str]:
        """Endpoints and where S3 clients find their credentials; holds no secret."""
        return {
            "MINIO_ENDPOINT": self.minio.url(),
            "MLFLOW_TRACKING_URI": self.mlflow.url(),
            "MLFLOW_S3_ENDPOINT_URL": self.minio.url(),
            "AWS_SHARED_CREDENTIALS_FILE": str(self.aws_credentials),
            "AWS_DEFAULT_REGION": "us-east-1",
        }

    def credentials_env(self) -> dict[str, str]:
        """client_env plus the MinIO root account as variables: for a user's shell and tests, never a lab process."""
        s = self.settings
        return {
            **self.client_env(),
            "MINIO_ACCESS_KEY": s.minio_root_user,
            "MINIO_SECRET_KEY": s.minio_root_password,
            "AWS_ACCESS_KEY_ID": s.minio_root_user,
            "AWS_SECRET_ACCESS_KEY": s.minio_root_password,
        }

    # --- the programs --------------------------------------------------------------------------

    def postgres_bin(self) -> Path:
        """Debian's PostgreSQL: the pinned major, else the newest installed."""
        pinned = Path("/usr/lib/postgresql") / str(self.pins.get("postgresql", "")) / "bin"
        if (pinned / "postgres").is_file():
            return pinned
        found = sorted(
            Path("/usr/lib/postgresql").glob("*/bin/postgres"), key=lambda p: int(p.parent.parent.name), reverse=True
        )
        if not found:
            raise DataError(
                "PostgreSQL is not installed: apt-get install postgresql (scripts/system-packages/data.txt)"
            )
        return found[0].parent

    # --- the processes -------------------------------------------------------------------------

    def spec(self, name: str) -> proc.Spec:
        specs = {
            "minio": self.minio_spec,
            "minio_backup": self.minio_backup_spec,
            "postgresql": self.postgres_spec,
            "mlflow": self.mlflow_spec,
        }
        return specs[name]()

    def minio_spec(self) -> proc.Spec:
        s = self.settings
        return self._minio("minio", self.minio, self.minio_console, s.minio_root_user, s.minio_root_password)

    def minio_backup_spec(self) -> proc.Spec:
        """The backup site: a second MinIO with its own data directory and root account."""
        s = self.settings
        return self._minio(
            "minio_backup",
            self.minio_backup,
            self.minio_backup_console,
            s.minio_backup_root_user,
            s.minio_backup_root_password,
        )

    def _minio(self, name: str, api, console, user: str, password: str) -> proc.Spec:
        binary = toolchain.minio_binary(self.pins["minio"])
        stem = name.replace("_", "-")
        user_file, password_file = self.secrets_dir / f"{stem}-root-user", self.secrets_dir / f"{stem}-root-password"
        return proc.Spec(
            name,
            [
                str(binary),
                "server",
                "--quiet",
                "--address",
                api.address,
                "--console-address",
                console.address,
                str(self.home / stem),
            ],
            [api, console],
            lambda: proc.http_ok(api.url("/minio/health/ready")),
            env={
                "MINIO_ROOT_USER_FILE": str(user_file),
                "MINIO_ROOT_PASSWORD_FILE": str(password_file),
                "MINIO_UPDATE": "off",
                "MINIO_CALLHOME_ENABLE": "off",
            },
            start_timeout=60,
            private_files=lambda: {user_file: user + "\n", password_file: password + "\n"},
        )

    def postgres_spec(self) -> proc.Spec:
        bindir = self.postgres_bin()
        pg = self.postgres
        ready = [str(bindir / "pg_isready"), "-q", "-h", pg.host, "-p", str(pg.port), "-t", "2"]
        return proc.Spec(
            "postgresql",
            # TCP on loopback only, no Unix socket: a socket path under a deep
            # checkout can exceed the 107-byte limit.
            [
                str(bindir / "postgres"),
                "-D",
                str(self.home / "postgresql"),
                "-c",
                f"listen_addresses={pg.host}",
                "-p",
                str(pg.port),
                "-c",
                "unix_socket_directories=",
            ],
            [pg],
            lambda: subprocess.run(ready, check=False).returncode == 0,
            user="postgres",
            # SIGINT: PostgreSQL's fast shutdown
            stop_signal=2,
            start_timeout=60,
        )

    def mlflow_spec(self) -> proc.Spec:
        db = {"user": self.settings.var("lab_mlflow_db_user"), "name": self.settings.var("lab_mlflow_db_name")}
        return proc.Spec(
            "mlflow",
            [
                self.mlflow_env.bin("mlflow"),
                "server",
                "--host",
                self.mlflow.host,
                "--port",
                str(self.mlflow.port),
                # no password in the URI: the driver (libpq) reads it from PGPASSFILE
                "--backend-store-uri",
                f"postgresql://{db['user']}@{self.postgres.address}/{db['name']}",
                "--default-artifact-root",
                f"s3://{self.bucket}",
                "--workers",
                "1",
            ],
            [self.mlflow],
            lambda: proc.http_ok(self.mlflow.url("/health")),
            env={
                **self.client_env(),
                "PGPASSFILE": str(self.mlflow_pgpass),
                # MLflow 3 starts job consumers (GenAI trace rollups, prompt
                # optimisation) the registry does not use; on two cores they cost seconds.
                "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
            },
            # the first start migrates the database schema
            start_timeout=240,
        )

    # --- one-time preparation ------------------------------------------------------------------

    def prepare_minio(self, name: str = "minio") -> None:
        try:
            toolchain.build_minio(self.pins["minio"])
        except RuntimeError as exc:
            raise DataError(str(exc)) from exc
        (self.home / name.replace("_", "-")).mkdir(parents=True, exist_ok=True)

    def prepare_postgres(self) -> None:
        """initdb once, the superuser's password from a 0600 --pwfile."""
        datadir = self.home / "postgresql"
        if (datadir / "PG_VERSION").is_file():
            return
        user = proc.run_as("postgres")
        datadir.mkdir(parents=True, exist_ok=True)
        if user:
            entry = pwd.getpwnam(user)
            os.chown(datadir, entry.pw_uid, entry.pw_gid)
        # beside the data directory, not in secrets/ (mode 0700, root's): initdb runs as `postgres`
        pwfile = self.home / "initdb.pw"
        proc.write_private(pwfile, self.settings.postgres_superuser_password + "\n", owner=user)
        try:
            initdb = [str(self.postgres_bin() / "initdb"), "-D", str(datadir), "-U", "postgres"]
            initdb += ["--auth=scram-sha-256", "--pwfile", str(pwfile), "--encoding=UTF8", "--locale=C.UTF-8"]
            result = subprocess.run(
                initdb,
                capture_output=True,
                text=True,
                check=False,
                env=proc.clean_env({}),
                user=user,
                group=pwd.getpwnam(user).pw_gid if user else None,
                extra_groups=[] if user else None,
                cwd="/",
            )
        finally:
            pwfile.unlink(missing_ok=True)
        if result.returncode != 0:
            raise DataError(f"initdb failed:\n{result.stdout[-2000:]}{result.stderr[-2000:]}")

    def psql(self, sql: str, database: str = "postgres") -> str:
        """Run SQL as the superuser: the SQL on stdin, the password from a pgpass file."""
        pg = self.postgres
        proc.write_private(self.admin_pgpass, f"{pg.address}:*:postgres:{self.settings.postgres_superuser_password}\n")
        argv = [str(self.postgres_bin() / "psql"), "-h", pg.host, "-p", str(pg.port), "-U", "postgres"]
        argv += ["-d", database, "-w", "-v", "ON_ERROR_STOP=1", "-tA", "-f", "-"]
        result = subprocess.run(
            argv,
            input=sql,
            env=proc.clean_env({"PGPASSFILE": str(self.admin_pgpass)}),
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise DataError(f"psql failed: {result.stderr.strip()}")
        return result.stdout.strip()

    def ensure_mlflow_database(self) -> None:
        """MLflow's role (its password set from the inventory on every start) and database."""
        db = self.settings.mlflow_db
        password = db["password"].replace("'", "''")
        if self.psql(f"SELECT 1 FROM pg_roles WHERE rolname = '{db['user']}';") == "1":
            self.psql(f"ALTER ROLE \"{db['user']}\" LOGIN PASSWORD '{password}';")
        else:
            self.psql(f"CREATE ROLE \"{db['user']}\" LOGIN PASSWORD '{password}';")
        if self.psql(f"SELECT 1 FROM pg_database WHERE datname = '{db['name']}';") != "1":
            self.psql(f'CREATE DATABASE "{db["name"]}" OWNER "{db["user"]}";')

    def ensure_artifact_bucket(self) -> None:
        """Create the artifact root's bucket (boto3 from the MLflow environment)."""
        script = (
            "import os, sys, boto3, botocore\n"
            "s3 = boto3.client('s3', endpoint_url=os.environ['MLFLOW_S3_ENDPOINT_URL'])\n"
            "try:\n"
            "    s3.head_bucket(Bucket=sys.argv[1])\n"
            "except botocore.exceptions.ClientError:\n"
            "    s3.create_bucket(Bucket=sys.argv[1])\n"
        )
        result = self.run_client([self.mlflow_env.bin("python"), "-c", script, self.bucket])
        if result.returncode != 0:
            raise DataError(f"creating bucket {self.bucket} failed:\n{result.stderr[-2000:]}")

    def run_client(self, argv: list[str], extra: dict | None = None, cwd: Path | None = None):
        """Run a client of the data services with their endpoints and credential files (no secret in its env)."""
        self.write_client_files()
        env = proc.clean_env({**self.client_env(), **(extra or {})})
        return subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, check=False)

    # --- commands ------------------------------------------------------------------------------

    def ordered(self, names) -> list[str]:
        wanted = set(names)
        if "mlflow" in wanted:  # MLflow needs the other two
            wanted |= {"minio", "postgresql"}
        return [s for s in SERVICES if s in wanted]

    def up(self, names=SERVICES, log=print) -> list[str]:
        """Start the named services (and what they need); return those this call started."""
        started = []
        self.secrets_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.write_client_files()
        try:
            for name in self.ordered(names):
                if name in ("minio", "minio_backup"):
                    self.prepare_minio(name)
                elif name == "postgresql":
                    self.prepare_postgres()
                elif name == "mlflow":
                    try:
                        self.mlflow_env.ensure()
                    except RuntimeError as exc:
                        raise DataError(str(exc)) from exc
                    self.ensure_artifact_bucket()
                if self.manager.ensure(self.spec(name), log):
                    started.append(name)
                if name == "postgresql":
                    self.ensure_mlflow_database()
        except proc.ProcessError as exc:
            raise DataError(str(exc)) from exc
        return started

    def down(self, names=SERVICES, log=print) -> list[str]:
        """Stop the named services, dependents first; return those this call stopped."""
        wanted = [self.spec(s) for s in SERVICES if s in set(names)]
        try:
            return self.manager.down(wanted, log)
        except proc.ProcessError as exc:
            raise DataError(str(exc)) from exc

    def status(self) -> dict:
        report = {}
        for name in SERVICES:
            spec = self.spec(name)
            report[name] = {"address": spec.listens[0].address, "state": self.manager.state(spec)}
        return report

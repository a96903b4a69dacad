"""The lab's serving and metrics path: MLServer and Prometheus, on loopback.

  mlserver     MLServer + its MLflow runtime (what KServe runs for MLflow models),
               V2 inference protocol over HTTP and gRPC, Prometheus metrics at /metrics
  prometheus   scrapes MLServer and MinIO (/minio/v2/metrics/cluster)

Addresses come from `lab_listen` in the lab inventory; state lives in
.lab/serving/. `up` resolves the served model in the MLflow registry the way
a KServe storage initializer would: the alias (platform_verify_model_alias)
of the registered model (platform_verify_model_name) names a version, whose
artifacts are downloaded from MinIO into .lab/serving/models/<name>/<version>/
and served under the model's name. The data services must be up. MLServer
runs in its own virtual environment (versions.yml serving.mlserver), cached
like the MLflow one. Prometheus is Debian's; its configuration is checked
with promtool before it starts, and it reads MinIO's bearer token from a
0600 file.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import yaml

from lab import processes as proc
from lab import toolchain
from lab.data import Data, DataError
from lab.settings import Settings

SERVICES = ("mlserver", "prometheus")
SCRAPE_INTERVAL = "5s"

# Rows of the iris feature space (sepal length/width, petal length/width).
IRIS_ROWS = [[5.1, 3.5, 1.4, 0.2], [5.9, 3.0, 5.1, 1.8], [6.2, 2.9, 4.3, 1.3], [4.9, 3.0, 1.4, 0.2]]

RESOLVE_SCRIPT = """
import json, sys
import mlflow
from mlflow import MlflowClient

name, alias, dest = sys.argv[1:4]
version = MlflowClient().get_model_version_by_alias(name, alias)
path = mlflow.artifacts.download_artifacts(artifact_uri=f"models:/{name}/{version.version}", dst_path=dest)
print(json.dumps(dict(name=name, alias=alias, version=version.version, run_id=version.run_id, path=path)))
"""


class ServingError(Exception):
    """A serving service could not be prepared, started or stopped."""


class Serving:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.data = Data(settings)
        self.manager = proc.Manager(settings.run_dir, settings.log_dir)
        self.http = settings.endpoint("mlserver_http")
        self.grpc = settings.endpoint("mlserver_grpc")
        self.metrics = settings.endpoint("mlserver_metrics")
        self.prometheus = settings.endpoint("prometheus")
        self.model = str(settings.var("platform_verify_model_name"))
        self.alias = str(settings.var("platform_verify_model_alias"))

    @property
    def home(self) -> Path:
        return self.settings.state / "serving"

    @property
    def mlserver_home(self) -> Path:
        return self.home / "mlserver"

    @property
    def prometheus_home(self) -> Path:
        return self.home / "prometheus"

    @property
    def mlserver_env(self) -> toolchain.PythonEnv:
        return toolchain.python_env("mlserver", self.settings.versions["serving"]["mlserver"])

    # --- mlserver -------------------------------------------------------------------------------

    def fetch_model(self, venv: Path, name: str, alias: str) -> dict:
        """Resolve name@alias in the registry and download that version's artifacts (the storage initializer's job)."""
        models = self.home / "models"
        staging = models / f".{name}.partial"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        result = self.data.run_client([str(venv / "bin" / "python"), "-c", RESOLVE_SCRIPT, name, alias, str(staging)])
        if result.returncode != 0:
            shutil.rmtree(staging, ignore_errors=True)
            raise ServingError(f"resolving models:/{name}@{alias} failed:\n{result.stderr[-3000:]}")
        info = json.loads(result.stdout.strip().splitlines()[-1])
        target = models / name / info["version"]
        shutil.rmtree(target, ignore_errors=True)
        target.parent.mkdir(parents=True, exist_ok=True)
        Path(info["path"]).rename(target)
        shutil.rmtree(staging, ignore_errors=True)
        info["path"] = str(target)
        print(f"lab: fetched {name} version {info['version']} (alias {alias}) into {target}", flush=True)
        return info

    def write_mlserver_config(self, model: dict) -> Path:
        """settings.json (server) and <name>/model-settings.json (the MLflow runtime over the fetched artifacts)."""
        home = self.mlserver_home
        shutil.rmtree(home, ignore_errors=True)
        (home / "metrics").mkdir(parents=True)
        settings = {
            "host": self.http.host,
            "http_port": self.http.port,
            "grpc_port": self.grpc.port,
            "metrics_port": self.metrics.port,
            "metrics_endpoint": "/metrics",
            "metrics_dir": str(home / "metrics"),
            # One process: the iris model is tiny and the lab's cores are shared.
            "parallel_workers": 0,
            "load_models_at_startup": True,
        }
        (home / "settings.json").write_text(json.dumps(settings, indent=2) + "\n")
        model_dir = home / "models" / model["name"]
        model_dir.mkdir(parents=True)
        model_settings = {
            "name": model["name"],
            "implementation": "mlserver_mlflow.MLflowRuntime",
            "parameters": {"uri": model["path"], "version": model["version"]},
        }
        (model_dir / "model-settings.json").write_text(json.dumps(model_settings, indent=2) + "\n")
        (home / "model.json").write_text(json.dumps(model) + "\n")
        return home

    def served_model(self) -> dict | None:
        try:
            return json.loads((self.mlserver_home / "model.json").read_text())
        except (OSError, ValueError):
            return None

    def mlserver_spec(self, model: str | None = None) -> proc.Spec:
        model = model or (self.served_model() or {}).get("name") or self.model
        home = self.mlserver_home
        return proc.Spec(
            "mlserver",
            [self.mlserver_env.bin("mlserver"), "start", str(home)],
            [self.http, self.grpc, self.metrics],
            lambda: proc.http_ok(self.http.url(f"/v2/models/{model}/ready")),
            # the runtime reads nothing from MinIO: the artifacts are local
            env={"PROMETHEUS_MULTIPROC_DIR": str(home / "metrics")},
            cwd=home,
            start_timeout=180,
        )

    def prepare_mlserver(self, model: str, alias: str) -> None:
        if not proc.http_ok(self.data.mlflow.url("/health")):
            raise ServingError("the MLflow tracking server is not up: run `make data-up` first")
        busy = [e.address for e in (self.http, self.grpc, self.metrics) if proc.port_open(e)]
        if busy:
            raise ServingError(f"{', '.join(busy)} taken by a program the lab did not start")
        venv = self.mlserver_env.ensure()
        self.write_mlserver_config(self.fetch_model(venv, model, alias))

    # --- prometheus -----------------------------------------------------------------------------

    def prometheus_config(self, token_file: Path) -> dict:
        return {
            "global": {"scrape_interval": SCRAPE_INTERVAL, "evaluation_interval": SCRAPE_INTERVAL},
            # The monitoring role's alert rules (its rules_file entry point writes them here).
            "rule_files": [str(self.prometheus_home / "rules" / "*.yml")],
            "scrape_configs": [
                {
                    # The predictor, labelled as the cluster's ServiceMonitor would label it.
                    "job_name": "mlserver",
                    "metrics_path": "/metrics",
                    "static_configs": [
                        {
                            "targets": [self.metrics.address],
                            "labels": {"namespace": "ml-serving", "service": self.model, "runtime": "mlserver"},
                        }
                    ],
                },
                {
                    "job_name": "minio",
                    "metrics_path": "/minio/v2/metrics/cluster",
                    "authorization": {"type": "Bearer", "credentials_file": str(token_file)},
                    "static_configs": [{"targets": [self.data.minio.address]}],
                },
            ],
        }

    def prometheus_spec(self) -> proc.Spec:
        home = self.prometheus_home
        token_file = home / "minio.token"
        s = self.settings
        return proc.Spec(
            "prometheus",
            [
                tool("prometheus"),
                f"--config.file={home / 'prometheus.yml'}",
                f"--storage.tsdb.path={home / 'data'}",
                f"--web.listen-address={self.prometheus.address}",
                "--storage.tsdb.retention.time=2d",
                "--web.enable-lifecycle",
            ],
            [self.prometheus],
            lambda: proc.http_ok(self.prometheus.url("/-/ready")),
            cwd=home,
            start_timeout=60,
            private_files=lambda: {token_file: minio_bearer_token(s.minio_root_user, s.minio_root_password) + "\n"},
        )

    def prepare_prometheus(self) -> None:
        home = self.prometheus_home
        home.mkdir(parents=True, exist_ok=True)
        # promtool checks that the token file the configuration names exists
        for path, text in self.prometheus_spec().private_files().items():
            proc.write_private(path, text)
        config = home / "prometheus.yml"
        config.write_text(yaml.safe_dump(self.prometheus_config(home / "minio.token"), sort_keys=False))
        result = subprocess.run([tool("promtool"), "check", "config", str(config)], capture_output=True, text=True)
        if result.returncode != 0:
            raise ServingError(f"promtool rejected {config}:\n{result.stdout}{result.stderr}")

    # --- commands -------------------------------------------------------------------------------

    def spec(self, name: str) -> proc.Spec:
        return self.mlserver_spec() if name == "mlserver" else self.prometheus_spec()

    def up(self, names=SERVICES, model: str | None = None, alias: str | None = None, log=print) -> list[str]:
        """Start the named services; return those this call started."""
        started = []
        try:
            for name in [s for s in SERVICES if s in set(names)]:
                if name == "mlserver":
                    spec = self.mlserver_spec(model or self.model)
                    if self.manager.state(spec) != "running":
                        self.manager.stop(spec.name)
                        self.prepare_mlserver(model or self.model, alias or self.alias)
                else:
                    spec = self.prometheus_spec()
                    if self.manager.state(spec) != "running":
                        self.prepare_prometheus()
                if self.manager.ensure(spec, log):
                    started.append(name)
        except proc.ProcessError as exc:
            raise ServingError(str(exc)) from exc
        return started

    def down(self, names=SERVICES, log=print) -> list[str]:
        wanted = [self.spec(s) for s in SERVICES if s in set(names)]
        try:
            return self.manager.down(wanted, log)
        except proc.ProcessError as exc:
            raise ServingError(str(exc)) from exc

    def status(self) -> dict:
        return {
            name: {"address": (spec := self.spec(name)).listens[0].address, "state": self.manager.state(spec)}
            for name in SERVICES
        }

    def predict(self, count: int, model: str | None = None, interval: float = 0.2) -> list[int]:
        """Send `count` single-row V2 inference requests, `interval` seconds apart; return the predicted classes.

        Spread over more than one scrape interval, so rate() over the latency
        histogram has an increase to work with.
        """
        url = self.http.url(f"/v2/models/{model or self.model}/infer")
        classes = []
        for index in range(count):
            row = IRIS_ROWS[index % len(IRIS_ROWS)]
            body = {"inputs": [{"name": "input-0", "shape": [1, 4], "datatype": "FP64", "data": row}]}
            request = urllib.request.Request(
                url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
            )
            try:
                with urllib.request.urlopen(request, timeout=10) as response:
                    reply = json.load(response)
            except (urllib.error.URLError, OSError) as exc:
                raise ServingError(f"predict request {index + 1} to {url} failed: {exc}") from exc
            classes.append(int(reply["outputs"][0]["data"][0]))
            time.sleep(interval)
        return classes

    def train(self, model: str | None = None) -> dict:
        """Run lab/train_iris.py in the MLflow environment against the lab; return its JSON summary."""
        try:
            venv = self.data.mlflow_env.ensure()
        except RuntimeError as exc:
            raise DataError(str(exc)) from exc
        script = Path(__file__).resolve().parent / "train_iris.py"
        result = self.data.run_client(
            [str(venv / "bin" / "python"), str(script)], {"IRIS_MODEL_NAME": model or self.model}, self.settings.root
        )
        if result.returncode != 0:
            raise ServingError(f"train_iris.py failed:\n{result.stdout[-2000:]}{result.stderr[-3000:]}")
        return json.loads(result.stdout.strip().splitlines()[-1])


def minio_bearer_token(access_key: str, secret_key: str, days: int = 365) -> str:
    """What `mc admin prometheus generate` makes: an HS512 JWT, issuer prometheus, signed with the secret key."""

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    header = {"alg": "HS512", "typ": "JWT"}
    claims = {"exp": int(time.time()) + days * 86400, "sub": access_key, "iss": "prometheus"}
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
    signature = hmac.new(secret_key.encode(), signing_input.encode(), hashlib.sha512).digest()
    return f"{signing_input}.{b64(signature)}"


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise ServingError(f"{name} is not installed: apt-get install prometheus (scripts/system-packages/serving.txt)")
    return path

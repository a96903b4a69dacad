"""Start, stop and report the lab's serving and metrics path: MLServer and Prometheus.

Both are real programs listening on loopback only, with their state in
.lab/serving/ (git-ignored):

  service      address                  what
  mlserver     127.0.0.1:18080 (HTTP)    MLServer + its MLflow runtime (what KServe runs
               127.0.0.1:18081 (gRPC)    for MLflow models), V2 inference protocol
               127.0.0.1:18082 (metrics) Prometheus metrics at /metrics
  prometheus   127.0.0.1:19090           scrapes MLServer and MinIO (/minio/v2/metrics/cluster)

`up mlserver` resolves the served model in the MLflow registry the way a
KServe storage initializer would: the alias (default champion) of the
registered model (default iris-bare-metal) names a version, whose artifacts
are downloaded from MinIO into .lab/serving/models/<name>/<version>/ and
served under the model's name. The data services (lab/data/labdata.py) must
be up. MLServer runs in its own virtual environment, pinned in versions.yml
(serving.mlserver) and cached under ${BAREMETAL_CACHE:-~/.cache/baremetal-mlops}/mlserver/<key>/.
Prometheus is Debian's (package prometheus); its configuration is written to
.lab/serving/prometheus/ and checked with promtool before it starts.

Usage: labserving.py up|down|status [service ...] [--model NAME] [--alias ALIAS]
       labserving.py predict [--count N]    send N iris rows to the served model
       labserving.py train                  train and register the model (lab/data/train_iris.py)
       labserving.py vars                   write .lab/serving/lab-vars.yml (the lab's MinIO root
                                            account, for ansible-playbook -e @...)
`down` stops only what a pid file names, after checking that the pid is
still the program the lab started.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "lab" / "data"))
import labdata  # noqa: E402  (the data services' tool: credentials, endpoints, cached venvs)

STATE = ROOT / ".lab" / "serving"
RUN = STATE / "run"
LOGS = STATE / "logs"
MODELS = STATE / "models"
MLSERVER_HOME = STATE / "mlserver"
PROMETHEUS_HOME = STATE / "prometheus"

HOST = "127.0.0.1"
MLSERVER_HTTP_PORT = 18080
MLSERVER_GRPC_PORT = 18081
MLSERVER_METRICS_PORT = 18082
PROMETHEUS_PORT = 19090
SCRAPE_INTERVAL = "5s"
SERVICES = ("mlserver", "prometheus")
DEFAULT_MODEL = os.environ.get("IRIS_MODEL_NAME", "iris-bare-metal")
DEFAULT_ALIAS = "champion"

# Rows of the iris feature space (sepal length/width, petal length/width).
IRIS_ROWS = [[5.1, 3.5, 1.4, 0.2], [5.9, 3.0, 5.1, 1.8], [6.2, 2.9, 4.3, 1.3], [4.9, 3.0, 1.4, 0.2]]


class ServingError(Exception):
    """A service could not be prepared, started or stopped."""


def log(msg: str) -> None:
    print(f"labserving: {msg}", file=sys.stderr, flush=True)


def pins() -> dict:
    with open(ROOT / "versions.yml", encoding="utf-8") as handle:
        return yaml.safe_load(handle)["serving"]


def mlserver_env() -> labdata.PythonEnv:
    spec = pins()["mlserver"]
    return labdata.PythonEnv("mlserver", str(spec["python"]), tuple(spec["packages"]))


# ------------------------------------------------------------------- helpers


def spawn(name: str, argv: list[str], env: dict, cwd: Path) -> subprocess.Popen:
    RUN.mkdir(parents=True, exist_ok=True)
    LOGS.mkdir(parents=True, exist_ok=True)
    with open(LOGS / f"{name}.log", "ab") as out:
        # A session of its own: `down` ends the process group and nothing else.
        proc = subprocess.Popen(
            argv,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=cwd,
            start_new_session=True,
        )
    (RUN / f"{name}.pid").write_text(f"{proc.pid}\n")
    return proc


def stop_group(name: str, marker: str, timeout: float = 30) -> bool:
    pidfile = RUN / f"{name}.pid"
    pid = labdata.read_pid(pidfile)
    if pid is None:
        return False
    if not labdata.pid_alive(pid, marker):
        pidfile.unlink(missing_ok=True)
        return False
    os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and labdata.pid_alive(pid, marker):
        time.sleep(0.2)
    if labdata.pid_alive(pid, marker):
        os.killpg(pid, signal.SIGKILL)
    pidfile.unlink(missing_ok=True)
    return True


def running(name: str, marker: str) -> bool:
    pid = labdata.read_pid(RUN / f"{name}.pid")
    return bool(pid) and labdata.pid_alive(pid, marker)


def write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read (it holds a credential)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    path.chmod(0o600)


# ------------------------------------------------------------------ mlserver

RESOLVE_SCRIPT = """
import json, sys
import mlflow
from mlflow import MlflowClient

name, alias, dest = sys.argv[1:4]
version = MlflowClient().get_model_version_by_alias(name, alias)
path = mlflow.artifacts.download_artifacts(artifact_uri=f"models:/{name}/{version.version}", dst_path=dest)
print(json.dumps(dict(name=name, alias=alias, version=version.version, run_id=version.run_id, path=path)))
"""


def fetch_model(venv: Path, name: str, alias: str) -> dict:
    """Resolve name@alias in the registry and download that version's artifacts (the storage initializer's job)."""
    staging = MODELS / f".{name}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    env = dict(os.environ, **labdata.client_env())
    result = subprocess.run(
        [str(venv / "bin" / "python"), "-c", RESOLVE_SCRIPT, name, alias, str(staging)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        shutil.rmtree(staging, ignore_errors=True)
        raise ServingError(f"resolving models:/{name}@{alias} failed:\n{result.stderr[-3000:]}")
    info = json.loads(result.stdout.strip().splitlines()[-1])
    target = MODELS / name / info["version"]
    shutil.rmtree(target, ignore_errors=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    Path(info["path"]).rename(target)
    shutil.rmtree(staging, ignore_errors=True)
    info["path"] = str(target)
    log(f"fetched {name} version {info['version']} (alias {alias}) into {target.relative_to(ROOT)}")
    return info


def write_mlserver_config(model: dict) -> Path:
    """settings.json (server) and <name>/model-settings.json (the MLflow runtime over the fetched artifacts)."""
    shutil.rmtree(MLSERVER_HOME, ignore_errors=True)
    metrics_dir = MLSERVER_HOME / "metrics"
    metrics_dir.mkdir(parents=True)
    settings = {
        "host": HOST,
        "http_port": MLSERVER_HTTP_PORT,
        "grpc_port": MLSERVER_GRPC_PORT,
        "metrics_port": MLSERVER_METRICS_PORT,
        "metrics_endpoint": "/metrics",
        "metrics_dir": str(metrics_dir),
        # One process: the iris model is tiny and the lab's cores are shared.
        "parallel_workers": 0,
        "load_models_at_startup": True,
    }
    (MLSERVER_HOME / "settings.json").write_text(json.dumps(settings, indent=2) + "\n")
    model_dir = MLSERVER_HOME / "models" / model["name"]
    model_dir.mkdir(parents=True)
    model_settings = {
        "name": model["name"],
        "implementation": "mlserver_mlflow.MLflowRuntime",
        "parameters": {"uri": model["path"], "version": model["version"]},
    }
    (model_dir / "model-settings.json").write_text(json.dumps(model_settings, indent=2) + "\n")
    (RUN / "mlserver-model.json").write_text(json.dumps(model) + "\n")
    return MLSERVER_HOME


def served_model() -> dict | None:
    try:
        return json.loads((RUN / "mlserver-model.json").read_text())
    except (OSError, ValueError):
        return None


def mlserver_up(model: str = DEFAULT_MODEL, alias: str = DEFAULT_ALIAS) -> bool:
    name = "mlserver"
    if running(name, "mlserver start"):
        return False
    for port in (MLSERVER_HTTP_PORT, MLSERVER_GRPC_PORT, MLSERVER_METRICS_PORT):
        if labdata.port_open(port):
            raise ServingError(f"port {port} is taken by a program the lab did not start")
    if not labdata.http_ok(f"http://{HOST}:{labdata.MLFLOW_PORT}/health"):
        raise ServingError("the MLflow tracking server is not up: run `make data-up` first")
    venv = mlserver_env().ensure()
    RUN.mkdir(parents=True, exist_ok=True)
    info = fetch_model(venv, model, alias)
    home = write_mlserver_config(info)
    # The runtime reads nothing from MinIO at start: the artifacts are local.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MLFLOW_", "MINIO_"))}
    env["PROMETHEUS_MULTIPROC_DIR"] = str(home / "metrics")
    proc = spawn(name, [str(venv / "bin" / "mlserver"), "start", str(home)], env, home)
    ready = f"http://{HOST}:{MLSERVER_HTTP_PORT}/v2/models/{model}/ready"
    labdata.wait_for(lambda: labdata.http_ok(ready), "MLServer", 180, proc, LOGS / "mlserver.log")
    return True


def mlserver_down() -> bool:
    return stop_group("mlserver", "mlserver start")


def predict(count: int, model: str = DEFAULT_MODEL, interval: float = 0.2) -> list[int]:
    """Send `count` single-row V2 inference requests, `interval` seconds apart; return the predicted classes.

    Spread over more than one scrape interval, so rate() over the latency
    histogram has an increase to work with.
    """
    url = f"http://{HOST}:{MLSERVER_HTTP_PORT}/v2/models/{model}/infer"
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


# ---------------------------------------------------------------- prometheus


def minio_bearer_token(access_key: str, secret_key: str, days: int = 365) -> str:
    """What `mc admin prometheus generate` makes: an HS512 JWT, issuer prometheus, signed with the secret key."""

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    header = {"alg": "HS512", "typ": "JWT"}
    claims = {"exp": int(time.time()) + days * 86400, "sub": access_key, "iss": "prometheus"}
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
    signature = hmac.new(secret_key.encode(), signing_input.encode(), hashlib.sha512).digest()
    return f"{signing_input}.{b64(signature)}"


def prometheus_config(token_file: Path) -> dict:
    return {
        "global": {"scrape_interval": SCRAPE_INTERVAL, "evaluation_interval": SCRAPE_INTERVAL},
        "scrape_configs": [
            {
                # The predictor, labelled as the cluster's ServiceMonitor would label it.
                "job_name": "mlserver",
                "metrics_path": "/metrics",
                "static_configs": [
                    {
                        "targets": [f"{HOST}:{MLSERVER_METRICS_PORT}"],
                        "labels": {"namespace": "ml-serving", "service": DEFAULT_MODEL, "runtime": "mlserver"},
                    }
                ],
            },
            {
                "job_name": "minio",
                "metrics_path": "/minio/v2/metrics/cluster",
                "authorization": {"type": "Bearer", "credentials_file": str(token_file)},
                "static_configs": [{"targets": [f"{HOST}:{labdata.MINIO_PORT}"]}],
            },
        ],
    }


def write_prometheus_config() -> Path:
    PROMETHEUS_HOME.mkdir(parents=True, exist_ok=True)
    creds = labdata.credentials()
    token_file = PROMETHEUS_HOME / "minio.token"
    write_private(token_file, minio_bearer_token(creds["minio_root_user"], creds["minio_root_password"]) + "\n")
    config = PROMETHEUS_HOME / "prometheus.yml"
    config.write_text(yaml.safe_dump(prometheus_config(token_file), sort_keys=False))
    result = subprocess.run(
        [tool("promtool"), "check", "config", str(config)], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise ServingError(f"promtool rejected {config}:\n{result.stdout}{result.stderr}")
    return config


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise ServingError(f"{name} is not installed: apt-get install prometheus (scripts/system-packages/serving.txt)")
    return path


def prometheus_up() -> bool:
    name = "prometheus"
    marker = f"--web.listen-address={HOST}:{PROMETHEUS_PORT}"
    if running(name, marker):
        return False
    if labdata.port_open(PROMETHEUS_PORT):
        raise ServingError(f"port {PROMETHEUS_PORT} is taken by a program the lab did not start")
    config = write_prometheus_config()
    argv = [tool("prometheus"), f"--config.file={config}", f"--storage.tsdb.path={PROMETHEUS_HOME / 'data'}"]
    argv += [marker, "--storage.tsdb.retention.time=2d", "--web.enable-lifecycle"]
    proc = spawn(name, argv, dict(os.environ), PROMETHEUS_HOME)
    ready = f"http://{HOST}:{PROMETHEUS_PORT}/-/ready"
    labdata.wait_for(lambda: labdata.http_ok(ready), "Prometheus", 60, proc, LOGS / "prometheus.log")
    return True


def prometheus_down() -> bool:
    return stop_group("prometheus", f"--web.listen-address={HOST}:{PROMETHEUS_PORT}")


# ------------------------------------------------------------------ commands

LAB_VARS = STATE / "lab-vars.yml"


def train(model: str = DEFAULT_MODEL) -> dict:
    """Run lab/data/train_iris.py in the MLflow environment against the lab; return its JSON summary."""
    venv = labdata.mlflow_env().ensure()
    env = dict(os.environ, **labdata.client_env(), IRIS_MODEL_NAME=model)
    result = subprocess.run(
        [str(venv / "bin" / "python"), str(ROOT / "lab" / "data" / "train_iris.py")],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise ServingError(f"train_iris.py failed:\n{result.stdout[-2000:]}{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def write_lab_vars() -> Path:
    """Extra vars that point the lab inventory at the running lab: MinIO root account and endpoints (mode 0600).

    labdata.py generates its own root credentials; playbooks run with
    `-e @.lab/serving/lab-vars.yml` so the inventory's minio_root_user and
    minio_root_password match the server they talk to.
    """
    creds = labdata.credentials()
    minio = f"http://{labdata.HOST}:{labdata.MINIO_PORT}"
    mlflow = f"http://{labdata.HOST}:{labdata.MLFLOW_PORT}"
    body = {
        "minio_root_user": creds["minio_root_user"],
        "minio_root_password": creds["minio_root_password"],
        # Where this lab's services listen, for lab/serving/*.yml and platform_verify.
        "lab_minio_endpoint": minio,
        "lab_mlflow_tracking_uri": mlflow,
        "platform_verify_minio_endpoint": minio,
        "platform_verify_mlflow_tracking_uri": mlflow,
    }
    write_private(LAB_VARS, "---\n# Written by lab/serving/labserving.py vars; never commit.\n" + yaml.safe_dump(body))
    return LAB_VARS


PORTS = {"mlserver": MLSERVER_HTTP_PORT, "prometheus": PROMETHEUS_PORT}


def up(names=SERVICES, model: str = DEFAULT_MODEL, alias: str = DEFAULT_ALIAS) -> list[str]:
    """Start the named services; return those this call started."""
    started = []
    for name in [s for s in SERVICES if s in set(names)]:
        t0 = time.monotonic()
        did = mlserver_up(model, alias) if name == "mlserver" else prometheus_up()
        if did:
            started.append(name)
            log(f"{name} up on {HOST}:{PORTS[name]} in {time.monotonic() - t0:.1f}s")
        else:
            log(f"{name} already running on {HOST}:{PORTS[name]}")
    return started


def down(names=SERVICES) -> list[str]:
    """Stop the named services; return those this call stopped."""
    stopped = []
    for name in reversed([s for s in SERVICES if s in set(names)]):
        if (mlserver_down if name == "mlserver" else prometheus_down)():
            stopped.append(name)
            log(f"{name} stopped")
        if labdata.port_open(PORTS[name]):
            raise ServingError(f"port {PORTS[name]} still open after stopping {name}")
    return stopped


def status() -> dict:
    model = served_model() or {"name": DEFAULT_MODEL}
    health = {
        "mlserver": f"http://{HOST}:{MLSERVER_HTTP_PORT}/v2/models/{model['name']}/ready",
        "prometheus": f"http://{HOST}:{PROMETHEUS_PORT}/-/ready",
    }
    return {name: {"address": f"{HOST}:{PORTS[name]}", "healthy": labdata.http_ok(health[name])} for name in SERVICES}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="labserving.py", description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=["up", "down", "status", "predict", "vars", "train"])
    parser.add_argument("services", nargs="*", metavar="service", help=f"any of {', '.join(SERVICES)} (default all)")
    parser.add_argument("--model", default=DEFAULT_MODEL, help="registered model to serve (default %(default)s)")
    parser.add_argument("--alias", default=DEFAULT_ALIAS, help="registry alias to serve (default %(default)s)")
    parser.add_argument("--count", type=int, default=50, help="predict: number of requests (default %(default)s)")
    parser.add_argument(
        "--interval", type=float, default=0.2, help="predict: seconds between requests (default %(default)s)"
    )
    args = parser.parse_args(argv)
    names = args.services or list(SERVICES)
    unknown = set(names) - set(SERVICES)
    if unknown:
        parser.error(f"unknown service(s): {', '.join(sorted(unknown))}")
    try:
        if args.command == "up":
            up(names, args.model, args.alias)
        elif args.command == "down":
            down(names)
        elif args.command == "train":
            print(json.dumps(train(args.model)))
        elif args.command == "vars":
            print(write_lab_vars().relative_to(ROOT))
        elif args.command == "predict":
            classes = predict(args.count, args.model, args.interval)
            counts = {c: classes.count(c) for c in sorted(set(classes))}
            print(json.dumps({"requests": len(classes), "classes": counts}))
            if not set(classes) <= {0, 1, 2}:
                log(f"unexpected classes {sorted(set(classes))}")
                return 1
        else:
            report = status()
            for name, state in report.items():
                print(f"{name:<11} {state['address']:<16} {'healthy' if state['healthy'] else 'down'}")
            return 0 if all(s["healthy"] for s in report.values()) else 1
    except (ServingError, labdata.LabError) as exc:
        log(str(exc))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Every lab process as the lab would start it, read before anything runs (no cluster needed).

With planted secrets in a copy of the lab inventory: no secret in any
process's argv or environment, every credential handed over in a private
file instead, and every address loopback and taken from `lab_listen`.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from lab import cluster, credentials
from lab import processes as proc
from lab.data import Data
from lab.serving import Serving
from lab.settings import ROOT, Settings


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    inventory = tmp_path_factory.mktemp("inventory") / "lab"
    shutil.copytree(ROOT / "inventories" / "lab", inventory, ignore=shutil.ignore_patterns("secrets.yml"))
    target = inventory / "group_vars" / "all" / "secrets.yml"
    names = credentials.referenced(inventory, target)
    values = {name: f"PLANTED-{name}-0123456789" for name in sorted(names)}
    target.write_text(yaml.safe_dump(values))
    settings = Settings(ROOT, inventory)
    assert set(settings.secret_values()) <= set(values.values())
    return settings, list(values.values())


def every_spec(settings: Settings) -> list[proc.Spec]:
    data, serving = Data(settings), Serving(settings)
    return [
        *cluster.specs(cluster.Cluster(settings)),
        *(data.spec(name) for name in ("minio", "postgresql", "mlflow")),
        *(serving.spec(name) for name in ("mlserver", "prometheus")),
    ]


def test_no_secret_in_any_argv_or_environment(planted):
    settings, secrets = planted
    leaks = []
    for spec in every_spec(settings):
        exposed = " ".join([*spec.argv, *spec.env.keys(), *spec.env.values()])
        leaks += [f"{spec.name}: {secret}" for secret in secrets if secret in exposed]
    assert leaks == []


def test_credentials_reach_the_services_through_private_files(planted):
    settings, _ = planted
    data, serving = Data(settings), Serving(settings)
    minio = data.spec("minio")
    files = minio.private_files()
    assert files[Path(minio.env["MINIO_ROOT_PASSWORD_FILE"])] == settings.minio_root_password + "\n"
    assert settings.minio_root_user + "\n" in files.values()
    mlflow = data.spec("mlflow")
    assert "PGPASSFILE" in mlflow.env and "AWS_SHARED_CREDENTIALS_FILE" in mlflow.env
    backend = mlflow.argv[mlflow.argv.index("--backend-store-uri") + 1]
    assert backend == f"postgresql://mlflow@{data.postgres.address}/mlflow"
    token = serving.spec("prometheus").private_files()
    assert len(token) == 1 and settings.minio_root_password not in next(iter(token.values()))


def test_every_process_listens_where_the_inventory_says(planted):
    settings, _ = planted
    allowed = {*(e.address for e in settings.listen.values()), settings.api.address}
    for spec in every_spec(settings):
        assert spec.listens, spec.name
        assert {e.address for e in spec.listens} <= allowed, spec.name
        assert all(proc.is_loopback(e.host) for e in spec.listens), spec.name

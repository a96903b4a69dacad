"""Session fixtures for the lab's data path end to end (what `make e2e` runs).

The sequence is built from session fixtures, each one step: data services up
(lab/data/labdata.py), buckets, team policies and users provisioned from the
lab inventory (lab/serving/provision.yml), the iris model trained and
registered (lab/data/train_iris.py), promoted to champion
(lab/serving/promote.yml), served by MLServer and scraped by Prometheus
(lab/serving/labserving.py), 50 predictions. At the end of the session each
fixture stops exactly the services it started.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
INVENTORY = ROOT / "inventories" / "lab"


def run_playbook(*args, verbose: bool = False) -> subprocess.CompletedProcess:
    """ansible-playbook from the repo root against the lab inventory; output merged into stdout."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.update(ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    argv = ["ansible-playbook", "-i", str(INVENTORY), *map(str, args)]
    if verbose:
        argv.append("-v")
    return subprocess.run(
        argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False
    )


@pytest.fixture(scope="session")
def labserving(labdata, lab_tool):
    return lab_tool("labserving", "lab/serving/labserving.py")


@pytest.fixture(scope="session")
def playbook():
    return run_playbook


@pytest.fixture(scope="session")
def data_services(running_data_services):
    return running_data_services


@pytest.fixture(scope="session")
def lab_vars(data_services, labserving):
    """Extra vars file with the running lab's MinIO root account; the lab inventory's secrets generated."""
    subprocess.run([sys.executable, str(ROOT / "scripts" / "lab-secrets.py")], check=True)
    return labserving.write_lab_vars()


@pytest.fixture(scope="session")
def provisioned(lab_vars):
    result = run_playbook(ROOT / "lab" / "serving" / "provision.yml", "-e", f"@{lab_vars}")
    assert result.returncode == 0, result.stdout[-4000:]
    return result


@pytest.fixture(scope="session")
def trained(provisioned, labserving):
    """train_iris.py's summary: run_id, model_name, model_version, ..."""
    return labserving.train()


@pytest.fixture(scope="session")
def promoted(trained, lab_vars):
    version = trained["model_version"]
    args = ["-e", f"@{lab_vars}", "-e", f"lab_model_version={version}"]
    result = run_playbook(ROOT / "lab" / "serving" / "promote.yml", *args)
    assert result.returncode == 0, result.stdout[-4000:]
    return version


@pytest.fixture(scope="session")
def serving(promoted, labserving):
    """MLServer serving the new champion, Prometheus scraping it."""
    try:
        # A running MLServer may serve an older champion.
        restarted = labserving.down(["mlserver"])
        started = labserving.up()
    except (labserving.ServingError, labserving.labdata.LabError) as exc:
        pytest.fail(f"serving did not start: {exc}")
    yield labserving
    labserving.down([name for name in started if name not in restarted])


@pytest.fixture(scope="session")
def predictions(serving):
    return serving.predict(50)

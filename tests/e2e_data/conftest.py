"""Session fixtures for the lab's data path end to end: the steps of lab/e2e.py, which `make e2e` runs.

Each fixture is one step of the same pipeline (lab.e2e.Pipeline): data
services up, buckets, team policies and users provisioned from the lab
inventory, the iris model trained and registered, promoted to the serving
alias, served by MLServer and scraped by Prometheus, 50 predictions. At the
end of the session each fixture stops exactly the services it started.
"""

from __future__ import annotations

import pytest

from lab.e2e import E2EError, Pipeline
from lab.serving import ServingError


@pytest.fixture(scope="session")
def pipeline(lab_settings) -> Pipeline:
    return Pipeline(lab_settings)


@pytest.fixture(scope="session")
def playbook(pipeline):
    """playbook(*args, verbose=0): ansible-playbook against the lab inventory, output merged into stdout."""
    return pipeline.playbook


@pytest.fixture(scope="session")
def labserving(pipeline):
    return pipeline.serving


@pytest.fixture(scope="session")
def data_services(running_data_services):
    return running_data_services


@pytest.fixture(scope="session")
def provisioned(data_services, pipeline):
    try:
        return pipeline.provision()
    except E2EError as exc:
        pytest.fail(str(exc))


@pytest.fixture(scope="session")
def trained(provisioned, pipeline):
    """train_iris.py's summary: run_id, model_name, model_version, ..."""
    return pipeline.train()


@pytest.fixture(scope="session")
def promoted(trained, pipeline):
    try:
        pipeline.promote(trained["model_version"])
    except E2EError as exc:
        pytest.fail(str(exc))
    return trained["model_version"]


@pytest.fixture(scope="session")
def serving(promoted, pipeline):
    """MLServer serving the new champion, Prometheus scraping it."""
    try:
        restarted, started = pipeline.serve()
    except ServingError as exc:
        pytest.fail(f"serving did not start: {exc}")
    yield pipeline.serving
    pipeline.serving.down([name for name in started if name not in restarted])


@pytest.fixture(scope="session")
def predictions(serving, pipeline):
    return pipeline.predict(50)

"""Fixtures for the lab tests; the lab itself is the session's shared `lab` fixture (tests/conftest.py)."""

from __future__ import annotations

import pytest
from lab_support import Lab


@pytest.fixture
def namespace(lab: Lab, request) -> str:
    """A fresh namespace per test, deleted afterwards."""
    name = "t-" + request.node.name.lower().replace("_", "-")[:40].strip("-")
    lab.kubectl("delete", "namespace", name, "--ignore-not-found", "--wait=true")
    lab.kubectl("create", "namespace", name)
    # pods are admitted only once the namespace's default ServiceAccount exists
    lab.kubectl("wait", "--for=create", "serviceaccount/default", "-n", name, "--timeout=60s")
    yield name
    lab.kubectl("delete", "namespace", name, "--wait=false")

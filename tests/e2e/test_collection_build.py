"""The collection builds into a tarball that installs and documents itself."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent

pytestmark = pytest.mark.e2e


def run(*args, cwd=ROOT, env=None):
    environment = dict(os.environ, **(env or {}))
    result = subprocess.run(args, cwd=cwd, env=environment, capture_output=True, text=True, check=False)
    assert result.returncode == 0, f"{' '.join(map(str, args))}\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def tarball(tmp_path_factory):
    out = tmp_path_factory.mktemp("build")
    run(BIN / "ansible-galaxy", "collection", "build", "--output-path", out)
    (built,) = out.glob("baremetal-mlops-*.tar.gz")
    return built


def test_tarball_leaves_out_tests_lab_tooling_and_caches(tarball):
    with tarfile.open(tarball) as archive:
        top = {name.split("/")[0] for name in archive.getnames()}
    assert {"plugins", "roles", "playbooks", "meta", "versions.yml", "MANIFEST.json"} <= top
    for unwanted in ("tests", "molecule", "lab", "inventories", "scripts", "collections", ".venv", ".lab", ".git"):
        assert unwanted not in top


def test_installed_collection_answers_ansible_doc(tarball, tmp_path):
    # Work outside the repo so that only the installed copy can answer.
    target = tmp_path / "collections"
    config = tmp_path / "ansible.cfg"
    config.write_text("[defaults]\n")
    env = {"ANSIBLE_COLLECTIONS_PATH": str(target), "ANSIBLE_CONFIG": str(config), "ANSIBLE_NOCOLOR": "1"}
    run(BIN / "ansible-galaxy", "collection", "install", "--no-deps", "-p", target, tarball, cwd=tmp_path, env=env)
    assert (target / "ansible_collections" / "baremetal" / "mlops" / "MANIFEST.json").is_file()
    doc = " ".join(run(BIN / "ansible-doc", "baremetal.mlops.validate_inventory", cwd=tmp_path, env=env).split())
    assert f"MODULE baremetal.mlops.validate_inventory ({target}" in doc
    assert "Collects every problem and fails once, with one line per problem" in doc
    lookup = " ".join(
        run(BIN / "ansible-doc", "-t", "lookup", "baremetal.mlops.versions", cwd=tmp_path, env=env).split()
    )
    assert "the single file that records which component versions are supported together" in lookup


def test_a_file_left_in_the_checkout_stays_out_of_the_tarball(tmp_path):
    # The build packs the collection's own files (galaxy.yml's manifest), never
    # whatever else a checkout holds: a copy of the tracked tree with stray
    # files in the root and beside the roles builds into the tracked files only.
    tracked = run("git", "ls-files", "-z").split("\0")
    tree = tmp_path / "checkout"
    for name in filter(None, tracked):
        (tree / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, tree / name, follow_symlinks=False)
    strays = ["LOG", "notes.txt", "vault-password", ".env", "roles/kubeconfig.bak", "playbooks/site.retry.swp"]
    for stray in strays:
        (tree / stray).write_text("not part of the collection\n")
    out = tmp_path / "out"
    run(BIN / "ansible-galaxy", "collection", "build", "--output-path", out, cwd=tree)
    (built,) = out.glob("baremetal-mlops-*.tar.gz")
    with tarfile.open(built) as archive:
        packed = {member.name for member in archive.getmembers() if member.isfile()}
    assert packed - {"MANIFEST.json", "FILES.json"} <= set(tracked)
    assert not packed & set(strays)
    assert {"galaxy.yml", "pyproject.toml", "Makefile"}.isdisjoint(packed)
    assert {"meta/runtime.yml", "versions.yml", "README.md", "roles/release_delivery/tasks/main.yml"} <= packed

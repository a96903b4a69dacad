"""playbooks/promote.yml against a temporary Git tree and the lab's real MLflow registry.

Model versions are registered with the collection's mlflow modules; the playbook is promoted by
version and by alias with inventories/lab (its teams and buckets). Each promotion is one commit
on a new branch, read back with git: the file, its labels and storage URI, the branch and the
message. A second run commits nothing, check mode writes nothing, bad inputs fail by name, and
the kubeconfig of every run points at a listener that counts connections: it must see none.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml
from s3_support import ansible_json_env

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
TEAM, NAMESPACE, BUCKET = "tabular", "team-tabular", "tabular-models"


def git(tree: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(tree), *args], capture_output=True, text=True, check=True).stdout


@pytest.fixture
def tree(tmp_path):
    """A GitOps working tree on main with one commit."""
    tree = tmp_path / "gitops"
    tree.mkdir()
    git(tree, "init", "--quiet", "--initial-branch=main")
    git(tree, "config", "user.name", "Promotion Test")
    git(tree, "config", "user.email", "promote@example.invalid")
    (tree / "root.yaml").write_text("---\nkind: Application\n")
    git(tree, "add", "root.yaml")
    git(tree, "commit", "--quiet", "-m", "The tree")
    return tree


@pytest.fixture
def api_listener(tmp_path):
    """A kubeconfig whose API server is a local socket counting the connections it gets."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    accepted = []

    def accept():
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            accepted.append(conn)
            conn.close()

    threading.Thread(target=accept, daemon=True).start()
    kubeconfig = tmp_path / "kubeconfig"
    address = f"https://127.0.0.1:{server.getsockname()[1]}"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": address, "insecure-skip-tls-verify": True}}],
                "users": [{"name": "u", "user": {"token": "none"}}],
                "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "x",
            }
        )
    )
    yield kubeconfig, accepted
    server.close()


@pytest.fixture
def promote(data_services, tree, api_listener):
    """promote(**vars, check=False) -> (rc, changed count, failure messages, stdout) of playbooks/promote.yml."""
    kubeconfig, _ = api_listener
    env = ansible_json_env(data_services)
    env.update(KUBECONFIG=str(kubeconfig), K8S_AUTH_KUBECONFIG=str(kubeconfig))

    def run(check=False, **variables):
        extra = {"ansible_python_interpreter": sys.executable, "platform_gitops_dir": str(tree), **variables}
        argv = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", "inventories/lab", "playbooks/promote.yml"]
        argv += ["-e", json.dumps(extra)] + (["--check"] if check else [])
        proc = subprocess.run(argv, env=env, cwd=ROOT, capture_output=True, text=True, check=False)
        try:
            report = json.loads(proc.stdout)
        except ValueError:
            raise AssertionError(f"ansible-playbook: {proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")  # noqa: B904
        results = [t["hosts"]["localhost"] for t in report["plays"][0]["tasks"] if "localhost" in t["hosts"]]
        failures = [" ".join(str(r.get("msg", "")).split()) for r in results if r.get("failed")]
        messages = [" ".join(str(r.get("msg", "")).split()) for r in results]
        return proc.returncode, report["stats"]["localhost"]["changed"], failures, messages

    return run


@pytest.fixture
def model(run_task, unique):
    """A registered model with version 1 and version 2 (alias champion) in the team's bucket; removed after."""
    name = f"iris-{unique}"
    assert run_task("mlflow_registered_model", {"name": name})["changed"] is True
    for number, aliases in (("1", []), ("2", ["champion"])):
        result = run_task(
            "mlflow_model_version", {"name": name, "source": f"s3://{BUCKET}/{name}/{number}", "aliases": aliases}
        )
        assert result["model_version"]["version"] == number, result
    yield name
    # the versions' sources hold no files: left in the shared registry, a backup drill would rightly
    # report the champion's storage URI as unresolved
    assert run_task("mlflow_registered_model", {"name": name, "state": "absent"})["changed"] is True


def commits(tree: Path) -> int:
    return int(git(tree, "rev-list", "--count", "--all"))


def test_promote_by_version_then_by_alias_makes_one_commit_each(promote, model, tree, api_listener):
    path = f"serving/{TEAM}/inferenceservice-{NAMESPACE}-{model}.yaml"

    # check mode: says what it would write and commit, writes nothing
    rc, changed, failures, messages = promote(check=True, promote_model=model, promote_team=TEAM, promote_version="1")
    assert (rc, failures) == (0, [])
    assert any(f"Would commit {path} on the new branch promote/{TEAM}/{model}-v1" in m for m in messages), messages
    assert not (tree / path).exists() and commits(tree) == 1 and git(tree, "branch", "--show-current") == "main\n"

    rc, changed, failures, _ = promote(promote_model=model, promote_team=TEAM, promote_version="1")
    assert (rc, failures) == (0, []) and changed >= 1
    assert commits(tree) == 2
    assert git(tree, "branch", "--show-current").strip() == f"promote/{TEAM}/{model}-v1"
    assert git(tree, "show", "--name-only", "--format=", "HEAD").split() == [path]
    isvc = yaml.safe_load((tree / path).read_text())
    assert isvc["kind"] == "InferenceService" and isvc["metadata"]["namespace"] == NAMESPACE
    assert isvc["metadata"]["labels"]["model_name"] == model
    assert isvc["metadata"]["labels"]["model_version"] == "1"
    assert "model_alias" not in isvc["metadata"]["labels"]
    assert isvc["spec"]["predictor"]["model"]["storageUri"] == f"s3://{BUCKET}/{model}/1"
    message = git(tree, "log", "-1", "--format=%B")
    assert message.startswith(f"Promote {model} version 1 for team {TEAM}\n")
    for line in (f"model: {model}", "version: 1", "alias: none", f"team: {TEAM} (namespace {NAMESPACE})"):
        assert line in message
    assert "previous version: none" in message

    # the same version again: no commit, nothing changed
    rc, changed, failures, messages = promote(promote_model=model, promote_team=TEAM, promote_version="1")
    assert (rc, changed, failures) == (0, 0, [])
    assert any("nothing to commit" in m for m in messages)
    assert commits(tree) == 2

    # by alias: champion is version 2, one more commit on its own branch
    rc, changed, failures, _ = promote(promote_model=model, promote_team=TEAM, promote_alias="champion")
    assert (rc, failures) == (0, [])
    assert commits(tree) == 3
    assert git(tree, "branch", "--show-current").strip() == f"promote/{TEAM}/{model}-v2"
    diff = git(tree, "diff", "HEAD~1", "HEAD", "--", path)
    for line in ("-    model_version: '1'", "+    model_version: '2'", "+    model_alias: champion"):
        assert line in diff, diff
    assert f"+      storageUri: s3://{BUCKET}/{model}/2" in diff and "+    name: v2" in diff, diff
    message = git(tree, "log", "-1", "--format=%B")
    assert message.startswith(f"Promote {model} version 2 (champion) for team {TEAM}\n")
    assert "alias: champion" in message and "previous version: 1" in message
    assert git(tree, "status", "--porcelain") == ""

    # the Kubernetes API was never contacted
    assert api_listener[1] == []


def test_bad_inputs_fail_by_name_and_commit_nothing(promote, model, tree, api_listener):
    cases = [
        (dict(promote_model=f"{model}-nope", promote_version="1"), f"registered model {model}-nope does not exist"),
        (dict(promote_model=model, promote_version="99"), "version 99 does not exist"),
        (dict(promote_model=model, promote_alias="prod"), "alias prod does not exist (aliases: champion)"),
        (dict(promote_model=model, promote_team="nope", promote_version="1"), "promote_team 'nope' is not a team"),
        (dict(promote_model=model, promote_version="1", promote_alias="champion"), "exactly one of promote_version"),
        (
            dict(promote_model=model, promote_version="1", promote_storage_uri="s3://vision-models/x"),
            "bucket vision-models is not one of the team's buckets",
        ),
    ]
    for variables, expected in cases:
        rc, _, failures, _ = promote(**{"promote_team": TEAM, **variables})
        assert rc != 0 and any(expected in f for f in failures), (variables, failures)
    (tree / "notes.txt").write_text("work in progress\n")
    rc, _, failures, _ = promote(promote_model=model, promote_team=TEAM, promote_version="1")
    assert rc != 0 and any("has uncommitted changes" in f and "notes.txt" in f for f in failures), failures
    assert commits(tree) == 1 and not (tree / "serving").exists()
    assert api_listener[1] == []

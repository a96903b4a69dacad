"""playbooks/backup.yml and playbooks/restore-drill.yml on the lab's real PostgreSQL, MinIO, MLflow and backup site.

Experiments, runs, artifact objects (two versions of one key in a versioned bucket) and model
versions with aliases are created through MLflow's REST API, the collection's mlflow modules and
S3; then: back up, destroy the primary data (registry entries and every object version), restore
and drill - the drill passes, and the restored database holds the experiments and runs too. Fault
tests stop PostgreSQL, and separately the backup site mid-backup: the playbook fails naming the
part, no manifest exists, a re-run completes. A corrupted object planted in the backup site makes
the drill fail naming it.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from minio import Minio
from minio.deleteobjects import DeleteObject
from s3_support import ansible_json_env, s3_client

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = "mlflow-artifacts"
SITE_BUCKET = "platform-backups"


@pytest.fixture(scope="module")
def site(running_data_services) -> Minio:
    """An S3 client on the backup site (the lab's second MinIO)."""
    s = running_data_services.settings
    return Minio(
        urlsplit(running_data_services.minio_backup.url()).netloc,
        access_key=s.minio_backup_root_user,
        secret_key=s.minio_backup_root_password,
        secure=False,
    )


@pytest.fixture(scope="module")
def primary(data_services, run_task) -> Minio:
    """The primary MinIO, its buckets as minio_buckets of the lab inventory says (versioning where asked)."""
    for name, versioning in ((ARTIFACTS, "enabled"), ("kserve-models", "enabled"), ("training-datasets", None)):
        args = {"name": name} | ({"versioning": versioning} if versioning else {})
        assert not run_task("minio_bucket", args).get("failed"), name
    return s3_client(data_services)


def playbook(env: dict, name: str, check: bool = False, **variables):
    """(rc, failure messages, debug messages) of one playbook run on inventories/lab."""
    extra = {"ansible_python_interpreter": sys.executable, **variables}
    argv = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", "inventories/lab", f"playbooks/{name}"]
    argv += ["-e", json.dumps(extra)] + (["--check"] if check else [])
    proc = subprocess.run(argv, env=ansible_json_env(env), cwd=ROOT, capture_output=True, text=True, check=False)
    try:
        report = json.loads(proc.stdout)
    except ValueError:
        raise AssertionError(f"ansible-playbook: {proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")  # noqa: B904
    results = [t["hosts"]["localhost"] for t in report["plays"][0]["tasks"] if "localhost" in t["hosts"]]
    failures = [" ".join(str(r.get("msg", "")).split()) for r in results if r.get("failed")]
    messages = [" ".join(str(r.get("msg", "")).split()) for r in results if "msg" in r]
    return proc.returncode, failures, messages


def mlflow(env: dict, path: str, body: dict) -> dict:
    request = urllib.request.Request(
        env["MLFLOW_TRACKING_URI"] + "/api/2.0/mlflow/" + path,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST" if not path.endswith("delete") else "DELETE",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read() or b"{}")


def put(s3: Minio, bucket: str, key: str, data: bytes) -> None:
    s3.put_object(bucket, key, io.BytesIO(data), len(data))


@pytest.fixture
def platform_data(data_services, primary, run_task, unique):
    """Two experiments with runs and artifacts; a model with versions 1 and 2 (alias champion), another with 1."""
    experiments, runs, models = [], [], {}
    for team in ("tabular", "vision"):
        experiment = mlflow(data_services, "experiments/create", {"name": f"{team}-{unique}"})["experiment_id"]
        experiments.append(f"{team}-{unique}")
        for number in (1, 2):
            run = mlflow(data_services, "runs/create", {"experiment_id": experiment, "run_name": f"r{number}"})
            run_id = run["run"]["info"]["run_id"]
            runs.append(run_id)
            mlflow(
                data_services, "runs/log-metric", {"run_id": run_id, "key": "accuracy", "value": 0.9, "timestamp": 0}
            )
            folder = f"{experiment}/{run_id}/artifacts/model"
            put(primary, ARTIFACTS, f"{folder}/MLmodel", f"flavors: {{}}\nrun: {run_id}\n".encode())
            put(primary, ARTIFACTS, f"{folder}/model.skops", f"weights of {run_id} v1".encode())
            # a second version of the same key: a versioned bucket must keep both
            put(primary, ARTIFACTS, f"{folder}/model.skops", f"weights of {run_id} v2".encode())
            models.setdefault(f"{team}-{unique}", []).append(f"s3://{ARTIFACTS}/{folder}")
    put(primary, "training-datasets", f"iris-{unique}.csv", b"5.1,3.5,1.4,0.2,setosa\n")
    for name, sources in models.items():
        assert run_task("mlflow_registered_model", {"name": name})["changed"] is True
        for number, source in enumerate(sources, start=1):
            aliases = ["champion"] if number == len(sources) and name.startswith("tabular") else []
            result = run_task("mlflow_model_version", {"name": name, "source": source, "aliases": aliases})
            assert result["model_version"]["version"] == str(number), result
    return {"experiments": experiments, "runs": runs, "models": sorted(models), "unique": unique}


def manifest(site: Minio, backup: str) -> dict:
    response = site.get_object(SITE_BUCKET, f"{backup}/manifest.json")
    try:
        return json.loads(response.read())
    finally:
        response.close()
        response.release_conn()


def site_objects(site: Minio, prefix: str) -> list:
    """The backup site's objects under prefix; none while the backup bucket does not exist yet (a new site)."""
    if not site.bucket_exists(SITE_BUCKET):
        return []
    return list(site.list_objects(SITE_BUCKET, prefix, recursive=True))


def has_manifest(site: Minio, backup: str) -> bool:
    return any(o.object_name.endswith("manifest.json") for o in site_objects(site, f"{backup}/"))


def destroy_primary(env: dict, primary: Minio, data: dict) -> None:
    """This test's primary data gone: its registered models, and every version of its objects (the runs'
    artifacts and its dataset). Other tests' data on the shared lab stays: the drill restores the whole
    backup anyway, and the serving and verify tests still read the lab's own model afterwards."""
    for name in data["models"]:
        mlflow(env, "registered-models/delete", {"name": name})
    for bucket, ours in (
        (ARTIFACTS, lambda key: key.count("/") > 1 and key.split("/")[1] in data["runs"]),
        ("training-datasets", lambda key: data["unique"] in key),
    ):
        doomed = [
            DeleteObject(o.object_name, o.version_id)
            for o in primary.list_objects(bucket, recursive=True, include_version=True)
            if ours(o.object_name)
        ]
        assert doomed, f"no object of this test in {bucket}"
        assert not list(primary.remove_objects(bucket, iter(doomed)))


def restored_rows(labdata, database: str, sql: str) -> list[str]:
    return labdata.psql(sql, database=database).splitlines()


def test_backup_destroy_restore_drill_loses_nothing(
    data_services, running_data_services, primary, site, platform_data, unique
):
    backup = f"{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-{unique}"
    # check mode: says what it would copy, writes nothing on the backup site
    rc, failures, messages = playbook(data_services, "backup.yml", check=True, platform_backup_name=backup)
    assert (rc, failures) == (0, []), messages
    assert any(m.startswith(f"Would complete s3://{SITE_BUCKET}/{backup}/manifest.json") for m in messages), messages
    assert site_objects(site, f"{backup}/") == []

    started = time.monotonic()
    rc, failures, messages = playbook(data_services, "backup.yml", platform_backup_name=backup)
    backup_seconds = time.monotonic() - started
    assert (rc, failures) == (0, []), messages
    assert any(f"Backup complete: s3://{SITE_BUCKET}/{backup}/manifest.json" in m for m in messages), messages

    found = manifest(site, backup)
    artifacts = found["buckets"][ARTIFACTS]
    assert artifacts["versioning"] == "enabled"
    # this test's objects: <experiment>/<run>/artifacts/... of its runs (the bucket holds other tests' too)
    ours = [
        e for e in artifacts["objects"] if e["key"].count("/") > 1 and e["key"].split("/")[1] in platform_data["runs"]
    ]
    skops = [e for e in ours if e["key"].endswith("model.skops")]
    assert len(skops) == 2 * len(platform_data["runs"]), "both versions of each model.skops are in the manifest"
    assert all(len(e["sha256"]) == 64 and e["backup_key"].startswith(f"{backup}/buckets/{ARTIFACTS}/") for e in ours)
    assert artifacts["object_count"] == sum(1 for e in artifacts["objects"] if not e["delete_marker"])
    assert len(found["database"]["sha256"]) == 64 and found["database"]["format"] == "custom"
    registry = {m["name"]: m for m in found["registered_models"]}
    tabular = registry[f"tabular-{unique}"]
    assert tabular["aliases"] == {"champion": "2"} and [v["version"] for v in tabular["versions"]] == ["1", "2"]
    assert found["versions"]["collection"] and found["versions"]["charts"]["mlflow"]

    destroy_primary(data_services, primary, platform_data)
    left = [o.object_name for o in primary.list_objects(ARTIFACTS, recursive=True, include_version=True)]
    assert not [key for key in left if key.count("/") > 1 and key.split("/")[1] in platform_data["runs"]]

    prefix = f"r{unique}-"
    database = "mlflow_drill_" + backup.lower().replace("-", "_")
    rc, failures, messages = playbook(
        data_services, "restore-drill.yml", True, restore_drill_backup=backup, restore_drill_target_bucket_prefix=prefix
    )
    assert (rc, failures) == (0, []), messages
    assert any(m.startswith(f"Would restore backup {backup} into the new database {database}") for m in messages)
    assert not any(b.name.startswith(prefix) for b in site.list_buckets())
    query = f"SELECT count(*) FROM pg_database WHERE datname = '{database}';"
    assert running_data_services.psql(query) == "0"

    started = time.monotonic()
    rc, failures, messages = playbook(
        data_services, "restore-drill.yml", restore_drill_backup=backup, restore_drill_target_bucket_prefix=prefix
    )
    drill_seconds = time.monotonic() - started
    assert (rc, failures) == (0, []), messages
    passed = next(m for m in messages if "Restore drill passed" in m)
    assert f"backup {backup}, RTO " in passed, passed
    assert f"tabular-{unique}: version 2 (alias champion)" in passed, passed
    assert f"vision-{unique}: no alias champion; its newest version is 2" in passed, passed

    # the restored objects are the backed-up ones, version by version
    restored = s3_client(
        data_services | {"MINIO_ENDPOINT": running_data_services.minio_backup.url()},
        running_data_services.settings.minio_backup_root_user,
        running_data_services.settings.minio_backup_root_password,
    )
    key = skops[0]["key"]
    versions = [o for o in restored.list_objects(prefix + ARTIFACTS, key, include_version=True) if o.object_name == key]
    assert len(versions) == 2
    # the restored database holds the experiments and runs as well as the registry
    names = restored_rows(running_data_services, database, "SELECT name FROM experiments ORDER BY name;")
    assert set(platform_data["experiments"]) <= set(names)
    run_ids = restored_rows(running_data_services, database, "SELECT run_uuid FROM runs;")
    assert set(platform_data["runs"]) <= set(run_ids)
    print(f"\nbackup {backup_seconds:.1f} s, drill {drill_seconds:.1f} s")


def test_postgresql_down_fails_the_database_part_and_a_rerun_completes(
    data_services, running_data_services, primary, site, unique
):
    backup = f"{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-pg-{unique}"
    running_data_services.down(["mlflow", "postgresql"])
    try:
        rc, failures, _ = playbook(data_services, "backup.yml", platform_backup_name=backup)
    finally:
        running_data_services.up(["postgresql", "mlflow"])
    assert rc != 0
    postgresql = running_data_services.settings.listen["postgresql"].address
    assert any(f"part database failed: pg_dump of mlflow at {postgresql}" in f for f in failures), failures
    assert not has_manifest(site, backup)

    rc, failures, _ = playbook(data_services, "backup.yml", platform_backup_name=backup)
    assert (rc, failures) == (0, [])
    assert has_manifest(site, backup)


def test_backup_site_down_mid_backup_fails_naming_the_part_and_a_rerun_completes(
    data_services, running_data_services, primary, site, unique
):
    backup = f"{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-site-{unique}"
    dump = f"{backup}/postgresql/mlflow.dump"
    stopped = threading.Event()

    def stop_once_the_dump_is_there():
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if site_objects(site, dump):
                running_data_services.down(["minio_backup"])
                stopped.set()
                return
            time.sleep(0.05)

    watcher = threading.Thread(target=stop_once_the_dump_is_there, daemon=True)
    watcher.start()
    try:
        rc, failures, _ = playbook(data_services, "backup.yml", platform_backup_name=backup)
    finally:
        watcher.join(timeout=5)
        running_data_services.up(["minio_backup"])
    assert stopped.is_set(), "the backup site was never stopped: the dump did not arrive"
    assert rc != 0
    # the database part is done when the site goes down: what fails is the bucket mirror (or, if it
    # had already finished, the manifest), and the message says which and where
    backup_site = running_data_services.minio_backup.url()
    failed_parts = [f for f in failures if "part buckets failed" in f or "part manifest failed" in f]
    assert any(backup_site in f for f in failed_parts), failures
    assert not has_manifest(site, backup)

    rc, failures, _ = playbook(data_services, "backup.yml", platform_backup_name=backup)
    assert (rc, failures) == (0, [])
    assert has_manifest(site, backup)


def test_a_corrupted_backup_object_fails_the_drill_naming_it(data_services, primary, site, unique):
    backup = f"{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-bad-{unique}"
    put(primary, "training-datasets", f"planted-{unique}.csv", b"1,2,3\n")
    rc, failures, _ = playbook(data_services, "backup.yml", platform_backup_name=backup)
    assert (rc, failures) == (0, [])
    entry = next(
        e
        for e in manifest(site, backup)["buckets"]["training-datasets"]["objects"]
        if e["key"] == f"planted-{unique}.csv"
    )
    put(site, SITE_BUCKET, entry["backup_key"], b"1,2,4\n")

    rc, failures, _ = playbook(
        data_services,
        "restore-drill.yml",
        restore_drill_backup=backup,
        restore_drill_target_bucket_prefix=f"c{unique}-",
    )
    assert rc != 0
    expected = f"backup object {SITE_BUCKET}/{entry['backup_key']} (training-datasets/planted-{unique}.csv) is corrupt"
    assert any("part objects failed" in f and expected in f for f in failures), failures


def test_no_credential_reaches_the_output_at_vvv(data_services, running_data_services, primary, unique):
    backup = f"{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-log-{unique}"
    env = ansible_json_env(data_services) | {"ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.default"}
    secrets = [v for v in running_data_services.settings.secret_values() if v]
    runs = [
        ("backup.yml", {"platform_backup_name": backup}),
        ("restore-drill.yml", {"restore_drill_backup": backup, "restore_drill_target_bucket_prefix": f"l{unique}-"}),
    ]
    for name, variables in runs:
        extra = {"ansible_python_interpreter": sys.executable, **variables}
        argv = [str(Path(sys.executable).parent / "ansible-playbook"), "-vvv", "-i", "inventories/lab"]
        argv += [f"playbooks/{name}", "-e", json.dumps(extra)]
        proc = subprocess.run(argv, env=env, cwd=ROOT, capture_output=True, text=True, check=False)
        assert proc.returncode == 0, proc.stdout[-3000:]
        output = proc.stdout + proc.stderr
        assert "Backup complete" in output or "Restore drill passed" in output
        leaked = [index for index, value in enumerate(secrets) if value in output]
        assert leaked == [], f"{name} printed credentials number {leaked} of Settings.secret_values()"

"""playbooks/backup.yml and playbooks/restore-drill.yml on the lab's real PostgreSQL, MinIO, MLflow and backup site.

Experiments (one deleted), runs with params, metrics and tags (one deleted), artifact objects (two
versions of one key in a versioned bucket) and model versions with aliases are created through
MLflow's REST API, the collection's mlflow modules and S3; then: back up (the registry read in
pages of 3 items), destroy the primary data (registry entries and every object version), restore
and drill - the drill passes, proving every experiment and run of the manifest came back with the
same data. Fault tests stop PostgreSQL, and separately the backup site mid-backup: the playbook
fails naming the part, no manifest exists, a re-run completes. A corrupted object planted in the
backup site makes the drill fail naming it; a backup whose database lost a run and had a metric
changed makes the drill fail naming both runs.
"""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from lab_support import inventory_var, lab_minio
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
    return lab_minio(running_data_services, backup_site=True)


@pytest.fixture(scope="module")
def primary(data_services, run_task) -> Minio:
    """The primary MinIO, its buckets as minio_buckets and platform_teams of the lab inventory say."""
    buckets = [(ARTIFACTS, "enabled"), ("kserve-models", "enabled"), ("training-datasets", None)]
    buckets += [(name, None) for team in inventory_var("platform_teams") for name in team["buckets"]]
    for name, versioning in buckets:
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


def mlflow(env: dict, path: str, body: dict, method: str = "") -> dict:
    request = urllib.request.Request(
        env["MLFLOW_TRACKING_URI"] + "/api/2.0/mlflow/" + path,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method=method or ("POST" if not path.endswith("delete") else "DELETE"),
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read() or b"{}")


def put(s3: Minio, bucket: str, key: str, data: bytes) -> None:
    s3.put_object(bucket, key, io.BytesIO(data), len(data))


def finished_run(env: dict, experiment: str, name: str, accuracy: float) -> str:
    """A run with two params, a metric history and a tag, then FINISHED; its id."""
    run_id = mlflow(env, "runs/create", {"experiment_id": experiment, "run_name": name, "start_time": 1000})
    run_id = run_id["run"]["info"]["run_id"]
    batch = {
        "run_id": run_id,
        "params": [{"key": "max_depth", "value": "4"}, {"key": "criterion", "value": "gini"}],
        "metrics": [
            {"key": "accuracy", "value": accuracy - 0.1, "timestamp": 1000, "step": 0},
            {"key": "accuracy", "value": accuracy, "timestamp": 2000, "step": 1},
            {"key": "loss", "value": 0.25, "timestamp": 2000, "step": 1},
        ],
        "tags": [{"key": "team", "value": "tabular"}],
    }
    mlflow(env, "runs/log-batch", batch)
    mlflow(env, "runs/update", {"run_id": run_id, "status": "FINISHED", "end_time": 3000})
    return run_id


@pytest.fixture
def platform_data(data_services, primary, run_task, unique):
    """Two experiments with runs and artifacts; a model with versions 1 and 2 (alias champion), another with 1."""
    experiments, runs, models, ids = [], [], {}, {}
    for team in ("tabular", "vision"):
        experiment = mlflow(data_services, "experiments/create", {"name": f"{team}-{unique}"})["experiment_id"]
        ids[team] = experiment
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
    # finished runs with params and metrics, one of them deleted, and a deleted experiment with a run
    finished = [finished_run(data_services, ids["tabular"], f"fit{n}", 0.9 + n / 100) for n in range(3)]
    mlflow(data_services, "runs/delete", {"run_id": finished[2]}, "POST")
    retired = mlflow(data_services, "experiments/create", {"name": f"retired-{unique}"})["experiment_id"]
    finished.append(finished_run(data_services, retired, "old-fit", 0.5))
    mlflow(data_services, "experiments/delete", {"experiment_id": retired}, "POST")
    experiments.append(f"retired-{unique}")
    for name, sources in models.items():
        assert run_task("mlflow_registered_model", {"name": name})["changed"] is True
        for number, source in enumerate(sources, start=1):
            aliases = ["champion"] if number == len(sources) and name.startswith("tabular") else []
            result = run_task("mlflow_model_version", {"name": name, "source": source, "aliases": aliases})
            assert result["model_version"]["version"] == str(number), result
    return {
        "experiments": experiments,
        "runs": runs,
        "finished": finished,
        "models": sorted(models),
        "unique": unique,
    }


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
    # pages of 3: the registry, experiments and runs of the shared lab take many requests each
    rc, failures, messages = playbook(
        data_services, "backup.yml", platform_backup_name=backup, platform_backup_mlflow_page_size=3
    )
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
    # experiments and runs, deleted ones with their state; runs with a digest of their data
    experiments = {e["name"]: e for e in found["experiments"]}
    assert set(platform_data["experiments"]) <= set(experiments)
    assert experiments[f"retired-{unique}"]["lifecycle_stage"] == "deleted"
    assert experiments[f"tabular-{unique}"]["lifecycle_stage"] == "active"
    recorded = {r["run_id"]: r for r in found["runs"]}
    assert set(platform_data["runs"] + platform_data["finished"]) <= set(recorded)
    fits = [recorded[run_id] for run_id in platform_data["finished"]]
    assert [r["lifecycle_stage"] for r in fits[:3]] == ["active", "active", "deleted"]
    assert all(r["status"] == "FINISHED" and r["end_time"] == 3000 for r in fits)
    assert all((r["params"]["count"], r["metrics"]["count"]) == (2, 2) and r["tags"]["count"] >= 2 for r in fits)
    assert fits[0]["metrics"]["sha256"] != fits[1]["metrics"]["sha256"], "different accuracy, different digest"
    assert fits[0]["params"]["sha256"] == fits[1]["params"]["sha256"], "same params, same digest"

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
    assert f"{len(found['experiments'])} experiment(s) and {len(found['runs'])} run(s) in the restored" in passed

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
    # the paged read missed nothing: every run and experiment of the dump is in the manifest
    assert set(run_ids) <= set(recorded)
    assert set(names) <= set(experiments)
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


def tamper_with_the_dump(labdata, site: Minio, backup: str, lost_run: str, changed_run: str) -> None:
    """Rewrite the backup's database dump without `lost_run` and with `changed_run`'s accuracy changed, and
    the manifest's checksum of it: the restore then succeeds and only the drill's comparison can notice.
    The work happens in a scratch database of this test's own, dropped at the end."""
    found = manifest(site, backup)
    scratch = f"tamper_{backup.lower().replace('-', '_')}"
    tools = labdata.postgres_bin()
    labdata.psql(f"CREATE DATABASE {scratch};")
    try:
        with tempfile.TemporaryDirectory() as folder:
            dump = Path(folder) / "mlflow.dump"
            site.fget_object(SITE_BUCKET, found["database"]["key"], str(dump))
            pg = labdata.postgres
            connect = ["-h", pg.host, "-p", str(pg.port), "-U", "postgres", "-w", "-d", scratch]
            env = {"PGPASSFILE": str(labdata.admin_pgpass), "PATH": "/usr/bin:/bin"}
            subprocess.run(
                [str(tools / "pg_restore"), "--no-owner", "--exit-on-error", *connect, str(dump)], env=env, check=True
            )
            labdata.psql(
                f"""
                DELETE FROM latest_metrics WHERE run_uuid = '{lost_run}';
                DELETE FROM metrics WHERE run_uuid = '{lost_run}';
                DELETE FROM params WHERE run_uuid = '{lost_run}';
                DELETE FROM tags WHERE run_uuid = '{lost_run}';
                DELETE FROM runs WHERE run_uuid = '{lost_run}';
                UPDATE latest_metrics SET value = value + 0.001 WHERE run_uuid = '{changed_run}' AND key = 'accuracy';
                """,
                database=scratch,
            )
            subprocess.run([str(tools / "pg_dump"), "--format=custom", f"--file={dump}", *connect], env=env, check=True)
            data = dump.read_bytes()
        put(site, SITE_BUCKET, found["database"]["key"], data)
        found["database"].update(sha256=hashlib.sha256(data).hexdigest(), size=len(data))
        put(site, SITE_BUCKET, f"{backup}/manifest.json", json.dumps(found).encode())
    finally:
        labdata.psql(f"DROP DATABASE IF EXISTS {scratch} WITH (FORCE);")


def test_a_run_lost_or_changed_in_the_restored_database_fails_the_drill_naming_each(
    data_services, running_data_services, primary, site, unique
):
    backup = f"{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-runs-{unique}"
    experiment = mlflow(data_services, "experiments/create", {"name": f"drilled-{unique}"})["experiment_id"]
    lost, changed, kept = (finished_run(data_services, experiment, name, 0.9) for name in ("lost", "changed", "kept"))
    rc, failures, _ = playbook(data_services, "backup.yml", platform_backup_name=backup)
    assert (rc, failures) == (0, [])
    tamper_with_the_dump(running_data_services, site, backup, lost, changed)

    rc, failures, _ = playbook(
        data_services,
        "restore-drill.yml",
        restore_drill_backup=backup,
        restore_drill_target_bucket_prefix=f"t{unique}-",
    )
    assert rc != 0
    failure = next((f for f in failures if "part registry failed" in f), "")
    assert f"run {lost} (lost, experiment drilled-{unique}): missing" in failure, failures
    assert f"run {changed} (changed, experiment drilled-{unique}): metrics differ (2 restored, 2 in the manifest)" in (
        failure
    ), failures
    assert kept not in failure, "the untouched run is not named"
    assert "2 missing or different" in failure, failure


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

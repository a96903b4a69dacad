"""GitOps delivery of the cluster layers for inventories/example, with no cluster.

ansible-playbook runs the tenancy, networking, storage, GPU, orchestration and monitoring roles with
platform_delivery=gitops into a temporary Git tree, charts from the chart
mirror. The tree is then checked against the charts (values, `helm
template`), the CRD schemas, the rendering both modes read, the vault and
the image list; a second run changes nothing and check mode writes nothing.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml
from ansible.constants import DEFAULT_VAULT_ID_MATCH
from ansible.parsing.vault import VaultLib, VaultSecret

from ansible_collections.baremetal.mlops.plugins.plugin_utils import chart_check, images, k8s_schema, release_render

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
PLAYBOOK = "tests/e2e/playbooks/render-cluster-layers.yml"
MIRROR = Path(os.environ.get("LAB_CHART_MIRROR", ROOT.parent / "shared" / "mirror" / "charts"))
CRD_FIXTURES = ROOT / "tests" / "fixtures" / "crds"
KUBERNETES_VERSION = yaml.safe_load((ROOT / "inventories/example/group_vars/all/platform.yml").read_text())[
    "platform_kubernetes_version"
]


def versions() -> dict:
    return yaml.safe_load((ROOT / "versions.yml").read_text())


@pytest.fixture(scope="module")
def render(playbook, vault_password, helm, gateway_api_url, tmp_path_factory):
    """render(tree, *extra args) -> CompletedProcess of the playbook in gitops mode."""
    assert MIRROR.is_dir(), f"the chart mirror {MIRROR} is missing (see docs/lab.md)"
    binary, env = helm

    def run(tree, *extra):
        return playbook(
            PLAYBOOK,
            "-i",
            "inventories/example",
            "--vault-password-file",
            vault_password,
            "-e",
            "platform_delivery=gitops",
            "-e",
            f"platform_gitops_dir={tree}",
            "-e",
            f"release_delivery_chart_dir={MIRROR}",
            "-e",
            f"release_delivery_helm_binary={binary}",
            "-e",
            f"platform_gateway_api_url={gateway_api_url}",
            *extra,
            env=env,
        )

    return run


@pytest.fixture(scope="module")
def tree(render, tmp_path_factory):
    """The Git tree and the renderings of the first run: (tree folder, plan folder, output)."""
    base = tmp_path_factory.mktemp("gitops")
    tree, plans = base / "tree", base / "plans"
    result = render(tree, "-e", f"release_delivery_plan_dir={plans}")
    assert result.returncode == 0, result.stdout + result.stderr
    return tree, plans, result.stdout


def read_tree(tree: Path) -> dict[str, str]:
    return {str(p.relative_to(tree)): p.read_text() for p in sorted(tree.rglob("*")) if p.is_file()}


def applications(tree: Path) -> list[dict]:
    return release_render.parse_gitops_tree(read_tree(tree))["applications"]


def release_apps(tree: Path) -> list[dict]:
    return [app for app in applications(tree) if "chart" in app["spec"]["source"]]


def chart_path(app: dict) -> str:
    source = app["spec"]["source"]
    return str(MIRROR / f"{source['chart']}-{source['targetRevision']}.tgz")


def test_applications_in_layer_order(tree):
    apps = applications(tree[0])
    order = sorted(
        (int(app["metadata"].get("annotations", {}).get("argocd.argoproj.io/sync-wave", 0)), app["metadata"]["name"])
        for app in apps
    )
    assert order == [
        (0, "platform"),
        (15, "platform-tenancy-objects"),
        (19, "gateway-api-objects"),  # the CRDs Cilium's GatewayClass and operator need
        (20, "cilium"),
        (21, "metallb"),
        (25, "cilium-objects"),
        (25, "metallb-objects"),
        (30, "longhorn"),
        (31, "minio-operator"),
        (32, "minio-tenant"),
        (33, "velero"),
        (40, "gpu-operator"),
        (50, "cert-manager"),
        (50, "kserve-crd"),
        (51, "kserve"),
        (52, "kserve-runtimes"),
        (55, "cert-manager-objects"),
        (55, "inference-edge-objects"),
        (55, "kserve-objects"),
        (60, "cloudnative-pg"),
        (61, "mlflow"),
        (65, "cloudnative-pg-objects"),
        (70, "argo-workflows"),
        (70, "argocd"),
        (75, "argo-workflows-objects"),
        (75, "argocd-objects"),
        (80, "kube-prometheus-stack"),
        (85, "monitoring-objects"),
    ]
    inventory = yaml.safe_load((ROOT / "inventories/example/group_vars/all/charts.yml").read_text())
    charts = versions()["platform_releases"]["2026.11"]["charts"]
    keys = {"operator": "minio_operator", "tenant": "minio_tenant"}
    keys.update({f"kserve-{part}": "kserve" for part in ("crd", "resources", "runtime-configs")})
    for app in release_apps(tree[0]):
        source = app["spec"]["source"]
        # Argo CD names an OCI registry without the oci:// scheme the Helm CLI wants
        assert source["repoURL"] == inventory["platform_chart_repositories"][source["chart"]].removeprefix("oci://")
        assert source["targetRevision"] == charts[keys.get(source["chart"], source["chart"].replace("-", "_"))]
        assert "CreateNamespace=true" in app["spec"]["syncPolicy"]["syncOptions"]
    root = next(app for app in applications(tree[0]) if app["metadata"]["name"] == "platform")
    assert root["spec"]["source"]["repoURL"] == "https://git.dc1.example.com/platform/platform-gitops.git"


def test_tree_holds_exactly_the_rendering_both_modes_read(tree):
    folder, plans, _ = tree
    rendered = [json.loads(path.read_text()) for path in sorted(plans.glob("*.json"))]
    assert [plan["component"] for plan in rendered] == [
        "argo-workflows",
        "argocd",
        "cert-manager",
        "cilium",
        "cloudnative-pg",
        "gateway-api",
        "gpu-operator",
        "inference-edge",
        "kserve",
        "longhorn",
        "metallb",
        "minio",
        "mlflow-credentials",  # sorted by file name: "-" before "."
        "mlflow",
        "monitoring",
        "platform-tenancy",
        "velero",
    ]
    by_name = {app["metadata"]["name"]: app for app in release_apps(folder)}
    files = read_tree(folder)
    for plan in rendered:
        for release in plan["releases"]:
            source = by_name[release["name"]]["spec"]["source"]
            assert source["helm"]["valuesObject"] == release["values"], release["name"]
            assert source["targetRevision"] == release["version"]
        prefix = f"layers/{plan['layer']}/{plan['component']}/"
        written = [yaml.safe_load(text) for path, text in files.items() if path.startswith(prefix)]
        assert sorted(written, key=release_render.apply_order) == plan["objects"], plan["component"]


def test_direct_delivery_reads_the_same_rendering():
    tasks = ROOT / "roles/release_delivery/tasks"
    for path in sorted(tasks.glob("*.yml")):
        if path.name == "main.yml":  # renders the plan from them
            continue
        text = path.read_text()
        for raw in ("release_delivery_releases", "release_delivery_objects", "release_delivery_node_labels"):
            assert raw not in text, f"{path.name} must read __release_delivery_plan, not {raw}"
    direct = (tasks / "direct.yml").read_text()
    assert "__release_delivery_plan.releases" in direct and "__release_delivery_plan.objects" in direct


def test_argocd_syncs_the_tree_and_each_teams_serving_folder(tree):
    folder = tree[0]
    apps = {app["metadata"]["name"]: app for app in applications(folder)}
    gitops = yaml.safe_load((ROOT / "inventories/example/group_vars/all/gitops.yml").read_text())
    teams = yaml.safe_load((ROOT / "inventories/example/group_vars/all/teams.yml").read_text())["platform_teams"]
    # Argo CD runs from the chart in the namespace every Application lives in
    chart = apps["argocd"]
    assert chart["metadata"]["namespace"] == chart["spec"]["destination"]["namespace"] == "argocd"
    values = chart["spec"]["source"]["helm"]["valuesObject"]
    assert values["redis-ha"]["enabled"] is False and values["dex"]["enabled"] is False
    assert values["server"]["service"]["type"] == "ClusterIP" and values["server"]["ingress"]["enabled"] is False
    assert all(values[part]["resources"]["requests"] for part in ("controller", "repoServer", "server", "redis"))
    assert "resource.customizations.health.argoproj.io_Application" in values["configs"]["cm"]
    # one Application per team, synced from its serving folder into its namespace
    objects = release_render.parse_gitops_tree(read_tree(folder))["objects"]
    serving = {o["metadata"]["name"]: o for o in objects if o["kind"] == "Application"}
    assert sorted(serving) == sorted(f"serving-{team['name']}" for team in teams)
    for team in teams:
        source = serving[f"serving-{team['name']}"]["spec"]["source"]
        assert source["path"] == f"serving/{team['name']}"
        assert source["repoURL"] == gitops["platform_gitops_repo_url"]
        assert source["targetRevision"] == gitops["platform_gitops_revision"]
        assert serving[f"serving-{team['name']}"]["spec"]["destination"]["namespace"] == team["namespace"]
    # the repository Secret is the site's to create: its name and keys only
    listed = yaml.safe_load((folder / "site/orchestration/argocd/secrets.yaml").read_text())["secrets"]
    assert listed == [
        {"name": "platform-gitops-repository", "namespace": "argocd", "type": "Opaque", "keys": ["type", "url"]}
    ]
    # the root Application is root.yaml only (direct delivery applies the same object)
    assert [o for o in objects if o["metadata"]["name"] == "platform"] == []


def test_values_fit_their_charts(tree):
    for app in release_apps(tree[0]):
        values = app["spec"]["source"]["helm"]["valuesObject"]
        assert chart_check.value_problems(values, chart_check.checked_defaults(chart_path(app))) == [], app["metadata"]
    assert "tenant.configSecret.existingSecret" in chart_check.DOCUMENTED_IN_COMMENTS["tenant"]


def helm_template(helm, app: dict, tmp_path: Path) -> str:
    binary, env = helm
    values = tmp_path / f"{app['metadata']['name']}.values.yaml"
    values.write_text(yaml.safe_dump(app["spec"]["source"]["helm"]["valuesObject"]))
    result = subprocess.run(
        [
            binary,
            "template",
            app["metadata"]["name"],
            chart_path(app),
            "--namespace",
            app["spec"]["destination"]["namespace"],
            "--values",
            str(values),
            "--kube-version",
            KUBERNETES_VERSION,
        ],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        check=False,
    )
    assert result.returncode == 0, f"helm template {app['metadata']['name']}: {result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def manifests(tree, helm, tmp_path_factory):
    """Release name -> the documents `helm template` renders with the tree's values."""
    work = tmp_path_factory.mktemp("templates")
    return {
        app["metadata"]["name"]: images.parse_manifests(helm_template(helm, app, work)) for app in release_apps(tree[0])
    }


@functools.cache
def mirror_crds() -> tuple[dict, ...]:
    """The CRDs the mirror's charts carry, read once per session (some 10-20 s of unpacking)."""
    return tuple(crd for chart in sorted(MIRROR.glob("*.tgz")) for crd in chart_check.chart_crds(str(chart)))


def crd_index(tree_objects: list | None = None) -> k8s_schema.CrdIndex:
    """The CRDs of the mirror's charts, the fixtures and those the tree delivers itself (Gateway API)."""
    index = k8s_schema.CrdIndex()
    for crd in tree_objects or []:
        if crd["kind"] == "CustomResourceDefinition":
            index.add(crd)
    for crd in mirror_crds():
        index.add(crd)
    for fixture in sorted(CRD_FIXTURES.glob("*.yaml")):
        index.add(yaml.safe_load(fixture.read_text()))
    return index


def test_custom_resources_validate_against_their_crds(tree, manifests):
    parsed = release_render.parse_gitops_tree(read_tree(tree[0]))
    index = crd_index(parsed["objects"])
    rendered = [doc for docs in manifests.values() for doc in docs]
    custom = [
        obj
        for obj in parsed["objects"] + parsed["applications"] + rendered
        if release_render.object_key(obj)[0] not in release_render.BUILT_IN_GROUPS
        and obj["kind"] != "CustomResourceDefinition"
    ]
    kinds = {obj["kind"] for obj in custom}
    assert {
        "Application",
        "CiliumNetworkPolicy",
        "IPAddressPool",
        "BGPPeer",
        "BGPAdvertisement",
        "Tenant",
        "ClusterPolicy",
        "WorkflowTemplate",
        "ClusterIssuer",
        "Certificate",
        "Cluster",
        "ScheduledBackup",
        "ClusterServingRuntime",
        "ClusterStorageContainer",
        "ServiceMonitor",
        "PodMonitor",
        "Gateway",
        "HTTPRoute",
        "GatewayClass",
        "BackupStorageLocation",
        "Schedule",
    } <= kinds
    problems = [problem for obj in custom for problem in index.validate(obj)]
    assert problems == []


def test_a_wrong_field_is_caught_by_the_crd_check(tree):
    pools = sorted((tree[0] / "layers/networking/metallb").glob("ipaddresspool-*"))
    pool = yaml.safe_load(pools[0].read_text())
    pool["spec"]["autoAsign"] = True
    assert crd_index().validate(pool) == [
        f"IPAddressPool/{pool['metadata']['name']}.spec.autoAsign: unknown field (the schema does not declare it)"
    ]


def vault_values() -> list[str]:
    password = (ROOT / "tests/fixtures/example-vault-password").read_text().strip().encode()
    vault = VaultLib([(DEFAULT_VAULT_ID_MATCH, VaultSecret(password))])
    plain = vault.decrypt((ROOT / "inventories/example/group_vars/all/vault.yml").read_text())
    values = [str(value) for value in yaml.safe_load(plain).values()]
    assert len(values) >= 7
    return values


def test_no_vault_value_reaches_the_tree(tree):
    folder, plans, output = tree
    texts = {**read_tree(folder), **{f"plans/{p.name}": p.read_text() for p in plans.glob("*.json")}, "output": output}
    leaks = [(path, value[:3] + "...") for value in vault_values() for path, text in texts.items() if value in text]
    assert leaks == []
    secrets = yaml.safe_load(texts["site/storage/longhorn/secrets.yaml"])["secrets"]
    assert secrets == [
        {
            "name": "longhorn-backup-s3",
            "namespace": "longhorn-system",
            "type": "Opaque",
            "keys": ["AWS_ACCESS_KEY_ID", "AWS_ENDPOINTS", "AWS_SECRET_ACCESS_KEY"],
        }
    ]
    secrets = yaml.safe_load(texts["site/storage/velero/secrets.yaml"])["secrets"]
    assert secrets == [{"name": "velero-backup-site", "namespace": "velero", "type": "Opaque", "keys": ["cloud"]}]


def test_velero_backs_up_to_the_backup_site_on_a_schedule(manifests):
    documents = manifests["velero"]
    by_kind = {}
    for doc in documents:
        by_kind.setdefault(doc["kind"], []).append(doc)
    (location,) = by_kind["BackupStorageLocation"]
    assert location["spec"]["provider"] == "aws"
    assert location["spec"]["objectStorage"] == {"bucket": "velero-backups", "prefix": "dc1"}
    assert location["spec"]["config"] == {
        "region": "us-east-1",
        "s3Url": "https://s3.backup.dc2.example.com",
        "s3ForcePathStyle": "true",
    }
    assert location["spec"]["credential"] == {"name": "velero-backup-site", "key": "cloud"}
    assert "VolumeSnapshotLocation" not in by_kind  # none unless velero_snapshot_locations lists some
    (schedule,) = by_kind["Schedule"]
    assert schedule["metadata"]["name"] == "velero-platform"
    assert schedule["spec"]["schedule"] == "30 1 * * *"
    template = schedule["spec"]["template"]
    assert {"team-vision", "team-fraud", "ml-platform", "ml-storage", "kserve", "velero"} <= set(
        template["includedNamespaces"]
    )
    assert template["excludedResources"] == ["events", "events.events.k8s.io", "leases.coordination.k8s.io"]
    assert (template["ttl"], template["storageLocation"], template["snapshotVolumes"]) == ("720h0m0s", "default", False)
    (deployment,) = by_kind["Deployment"]
    plugin = versions()["platform_releases"]["2026.11"]["images"]["velero_plugin_for_aws"]
    assert [c["image"] for c in deployment["spec"]["template"]["spec"]["initContainers"]] == [plugin]
    assert plugin.rsplit(":", 1)[1].startswith("v1.14.")


def test_every_rendered_image_is_in_the_image_list(tree, manifests):
    listed = set()
    for path in (tree[0] / "images").glob("*.txt"):
        listed.update(tuple(line.split()) for line in path.read_text().splitlines() if not line.startswith("#"))
    for release, documents in manifests.items():
        found = images.manifest_images(documents)
        # only a chart of nothing but CRDs (kserve-crd) runs no image
        assert found or {d["kind"] for d in documents} == {"CustomResourceDefinition"}, release
        missing = sorted(image for image in found if (image, release) not in listed)
        assert missing == [], release
    gpu = {image for image, release in listed if release == "gpu-operator"}
    assert any("/driver:" in image for image in gpu)  # the operator deploys it; the chart only names it
    assert any("container-toolkit" in image for image in gpu)


def test_a_second_run_changes_nothing(tree, render):
    result = render(tree[0])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "changed=0" in result.stdout, result.stdout


def test_check_mode_writes_nothing(render, tmp_path, tree):
    fresh = tmp_path / "fresh"
    result = render(fresh, "--check", "--diff")
    assert result.returncode == 0, result.stdout + result.stderr
    assert not fresh.exists()
    copy = tmp_path / "copy"
    subprocess.run(["cp", "-a", str(tree[0]), str(copy)], check=True)
    stale = copy / "layers/networking/metallb/ipaddresspool-metallb-system-stale.yaml"
    stale.write_text("---\nkind: IPAddressPool\n")
    before = read_tree(copy)
    result = render(copy, "--check", "--diff")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "changed=1" in result.stdout
    assert "ipaddresspool-metallb-system-stale.yaml" in result.stdout  # the diff names what would go
    assert read_tree(copy) == before


def test_a_value_the_chart_does_not_have_is_refused(render, tmp_path):
    result = render(tmp_path / "typo", "-e", '{"metallb_values": {"speaker": {"tolerateMastr": true}}}')
    assert result.returncode != 0
    output = " ".join(result.stdout.split())  # the YAML callback folds long messages
    assert "release metallb (metallb 0.16.1): speaker.tolerateMastr: the chart has no such value" in output


def test_tracking_layer_mlflow_runs_on_the_cloudnative_pg_cluster(tree, manifests):
    folder = tree[0]
    cluster = yaml.safe_load((folder / "layers/tracking/cloudnative-pg/cluster-ml-platform-mlflow-db.yaml").read_text())
    assert cluster["spec"]["storage"]["storageClass"] == "longhorn"
    wrong = {**cluster, "spec": {**cluster["spec"], "backup": {"barmanObjectStor": {}}}}
    assert crd_index().validate(wrong) == [
        "Cluster/mlflow-db.spec.backup.barmanObjectStor: unknown field (the schema does not declare it)"
    ]
    documents = {(doc["kind"], doc["metadata"]["name"]): doc for doc in manifests["mlflow"]}
    pod = documents[("Deployment", "mlflow")]["spec"]["template"]["spec"]
    server = next(c for c in pod["containers"] if c["name"] == "mlflow")
    assert server["securityContext"]["readOnlyRootFilesystem"] is True
    assert "--default-artifact-root=s3://mlflow-artifacts/" in server["args"]
    env = {e["name"]: e for e in server["env"]}
    services = yaml.safe_load((ROOT / "inventories/example/group_vars/all/cluster_services.yml").read_text())
    assert env["MLFLOW_S3_ENDPOINT_URL"]["value"] == services["platform_s3_endpoint"]
    assert env["PGPASSWORD"]["valueFrom"]["secretKeyRef"] == {
        "name": cluster["spec"]["bootstrap"]["initdb"]["secret"]["name"],
        "key": "password",
    }
    config = documents[("ConfigMap", "mlflow-env-configmap")]["data"]
    assert config["PGHOST"] == f"{cluster['metadata']['name']}-rw.{cluster['metadata']['namespace']}.svc"
    # the only writable places are emptyDirs: the chart's on /tmp, and the one Prometheus exporter's
    # per-process files go to (mlflow_metrics_enabled), where the exporter flag points
    assert [v for v in pod["volumes"] if "emptyDir" in v] == [
        {"name": "tmp", "emptyDir": {}},
        {"name": "prometheus-metrics", "emptyDir": {}},
    ]
    mounts = {m["name"]: m["mountPath"] for m in server["volumeMounts"]}
    assert f"--expose-prometheus={mounts['prometheus-metrics']}" in server["args"]
    # Prometheus scrapes <pod IP>:5000, a Host MLflow accepts only for the inventory's pod network
    platform = yaml.safe_load((ROOT / "inventories/example/group_vars/all/platform.yml").read_text())
    assert platform["platform_pod_cidr"] == "10.244.0.0/16"
    assert config["MLFLOW_SERVER_ALLOWED_HOSTS"].split(",")[-1] == "10.244.*:5000"
    assert [p["containerPort"] for p in server["ports"]] == [5000]
    # the ClusterIP Service is the one the inventory's tracking URI names
    host, port = services["platform_mlflow_tracking_uri"].split("//")[1].split(":")
    service = documents[("Service", "mlflow")]
    assert service["spec"]["type"] == "ClusterIP"
    assert host.split(".")[:2] == [service["metadata"]["name"], "ml-platform"]
    assert [p["port"] for p in service["spec"]["ports"]] == [int(port)]
    assert cluster["metadata"]["namespace"] == "ml-platform"


def test_the_edge_is_a_cilium_gateway_after_its_crds_and_keeps_the_data_services_internal(tree):
    folder = tree[0]
    files = read_tree(folder)
    release = versions()["platform_releases"]["2026.11"]
    crds = [yaml.safe_load(t) for p, t in files.items() if p.startswith("layers/networking/gateway-api/")]
    standard = [c for c in crds if c["kind"] == "CustomResourceDefinition"]
    assert {c["spec"]["names"]["kind"] for c in standard} >= {"GatewayClass", "Gateway", "HTTPRoute", "ListenerSet"}
    assert {c["metadata"]["annotations"]["gateway.networking.k8s.io/channel"] for c in standard} == {"standard"}
    assert {c["metadata"]["annotations"]["gateway.networking.k8s.io/bundle-version"] for c in standard} == {
        release["manifests"]["gateway_api"]
    }
    cilium = next(app for app in release_apps(folder) if app["metadata"]["name"] == "cilium")
    assert cilium["spec"]["source"]["helm"]["valuesObject"]["gatewayAPI"] == {
        "enabled": True,
        "gatewayClass": {"create": "true"},
    }
    services = yaml.safe_load((ROOT / "inventories/example/group_vars/all/cluster_services.yml").read_text())
    edge = services["platform_edge_namespace"]
    objects = [yaml.safe_load(t) for p, t in files.items() if p.startswith("layers/serving/inference-edge/")]
    (gateway,) = [o for o in objects if o["kind"] == "Gateway"]
    assert (gateway["metadata"]["namespace"], gateway["spec"]["gatewayClassName"]) == (edge, "cilium")
    assert gateway["spec"]["infrastructure"]["annotations"] == {"metallb.io/address-pool": "inference-public"}
    # the Gateway listens on plain HTTP only (redirected); HTTPS listeners come with public models
    assert [(li["protocol"], li["port"]) for li in gateway["spec"]["listeners"]] == [("HTTP", 80)]
    routes = [o for o in objects if o["kind"] == "HTTPRoute"]
    assert [r["spec"]["rules"][0]["filters"][0]["type"] for r in routes] == ["RequestRedirect"]
    # no route of the tree names MinIO, PostgreSQL or MLflow: they stay internal Services
    everything = [yaml.safe_load(t) for p, t in files.items() if p.startswith("layers/") and p.endswith(".yaml")]
    backends = [
        ref
        for obj in everything
        if obj.get("kind") in ("HTTPRoute", "GRPCRoute", "TLSRoute")
        for rule in obj["spec"].get("rules") or []
        for ref in rule.get("backendRefs") or []
    ]
    assert backends == []
    # the proxy's secrets are listed for the site, never written
    secrets = yaml.safe_load(files["site/serving/inference-edge/secrets.yaml"])["secrets"]
    assert secrets == [
        {"name": "inference-edge-oauth2-proxy", "namespace": edge, "type": "Opaque",
         "keys": ["client-secret", "cookie-secret"]}
    ]  # fmt: skip

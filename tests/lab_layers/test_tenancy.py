"""Team tenancy on the lab's API server: namespaces, GPU placement policy, GPU quotas and RBAC.

The platform_tenancy role (networking layer) delivers its objects to the lab;
every answer below comes from the real kube-apiserver (admission with the
ValidatingAdmissionPolicy and ResourceQuota plugins, RBAC authorization) and
the real kube-scheduler placing pods on the kwok GPU nodes the inventory
describes. Expected values are read from inventories/lab and the role's
defaults, not from the objects under test.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
import yaml
from lab_support import ROOT, gpu_toleration, inventory_var

from ansible_collections.baremetal.mlops.plugins.plugin_utils import platform_objects

pytestmark = pytest.mark.lab

PRODUCT_LABEL = "nvidia.com/gpu.product"
CLASS_LABEL = "lab.baremetal.mlops/gpu-node-class"
TEAM_LABEL = "baremetal.mlops/team"
QUOTA = "team-gpu"
ROLE_DEFAULTS = yaml.safe_load(Path(ROOT, "roles/platform_tenancy/defaults/main.yml").read_text())
# Every authenticated user may ask the API about its own access; these are no objects in a namespace.
SELF_REVIEWS = {
    ("authorization.k8s.io", "selfsubjectaccessreviews"),
    ("authorization.k8s.io", "selfsubjectrulesreviews"),
    ("authentication.k8s.io", "selfsubjectreviews"),
}
TEAM_KINDS = [("serving.kserve.io", "inferenceservices"), ("argoproj.io", "workflows"), ("", "secrets")]


def setting(name: str):
    try:
        return inventory_var(name)
    except KeyError:
        return ROLE_DEFAULTS[name]


TEAMS = inventory_var("platform_teams")
CLASSES = inventory_var("gpu_node_classes")
POLICY = setting("platform_tenancy_gpu_policy_name")
DEFAULT_QUOTA = int(setting("platform_tenancy_gpu_quota_default"))
TEAM_IDS = [t["name"] for t in TEAMS]


def class_resource(gpu_class: dict) -> str:
    """The extended resource a class's GPUs are requested by: whole GPUs, or the slice of a uniform MIG layout."""
    layout = str(gpu_class.get("mig_config") or "none")
    if layout in ("none", "all-disabled"):
        return "nvidia.com/gpu"
    assert layout.startswith("all-"), f"this test knows uniform MIG layouts only, not {layout!r}"
    return f"nvidia.com/mig-{layout[4:]}"


def team_resources(team: dict) -> list[str]:
    return sorted({class_resource(CLASSES[c]) for c in team["gpu_classes"]})


def team_products(team: dict) -> list[str]:
    return sorted({CLASSES[c]["product"] for c in team["gpu_classes"]})


def other_products(team: dict) -> list[str]:
    return sorted({c["product"] for c in CLASSES.values()} - set(team_products(team)))


def policy_message(namespace: str, products: list[str]) -> str:
    return (
        f"pods in {namespace} that request GPUs must require node affinity {PRODUCT_LABEL} In ({', '.join(products)})"
    )


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def product_term(products: list[str]) -> list[dict]:
    return [{"key": PRODUCT_LABEL, "operator": "In", "values": products}]


def pod(namespace: str, name: str, gpus: dict | None = None, terms: list | None = None, tolerations=()) -> dict:
    container = {"name": "main", "image": "busybox", "command": ["sleep", "infinity"]}
    container["resources"] = {"limits": {k: str(v) for k, v in gpus.items()}} if gpus else {}
    spec = {"containers": [container], "tolerations": list(tolerations), "terminationGracePeriodSeconds": 0}
    if terms is not None:
        spec["affinity"] = {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [{"matchExpressions": t} for t in terms]
                }
            }
        }
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": namespace}, "spec": spec}


def gpu_nodes(lab) -> list[dict]:
    return lab.get("nodes", "-l", PRODUCT_LABEL)["items"]


def gpu_tolerations(lab) -> list[dict]:
    """What a GPU workload carries: a toleration of the contract's GPU node taint (inventory gpu_node_taint),
    checked against the taint the GPU nodes really carry, so a pod without it could not land there."""
    toleration = gpu_toleration()
    for node in gpu_nodes(lab):
        carried = {(t["key"], t["effect"]) for t in node["spec"].get("taints") or []}
        assert (toleration["key"], toleration["effect"]) in carried, (node["metadata"]["name"], carried)
    return [toleration]


def quota(lab, namespace: str) -> dict:
    return lab.get("resourcequota", QUOTA, "-n", namespace)


class Pods:
    """Pods a test creates; deleted at the end, waiting until the team's quota has released them."""

    def __init__(self, lab):
        self.lab = lab
        self.made: list[tuple[str, str]] = []
        self.usage = {}

    def create(self, obj: dict):
        namespace = obj["metadata"]["namespace"]
        if namespace not in self.usage:
            found = self.lab.kubectl("get", "resourcequota", QUOTA, "-n", namespace, "-o", "json", check=False)
            self.usage[namespace] = (
                json.loads(found.stdout)["status"].get("used", {}) if found.returncode == 0 else None
            )
        result = self.lab.kubectl("create", "-f", "-", stdin=json.dumps(obj), check=False)
        if result.returncode == 0:
            self.made.append((namespace, obj["metadata"]["name"]))
        return result

    def admitted(self, obj: dict) -> None:
        result = self.create(obj)
        assert result.returncode == 0, f"pod {obj['metadata']['name']} was refused:\n{result.stderr}"

    def node_of(self, namespace: str, name: str) -> str:
        return self.lab.wait_until(
            lambda: self.lab.get("pod", name, "-n", namespace)["spec"].get("nodeName"),
            f"the scheduler to place pod {namespace}/{name}",
            60,
        )

    def cleanup(self) -> None:
        for namespace, name in self.made:
            self.lab.kubectl(
                "delete", "pod", name, "-n", namespace, "--grace-period=0", "--force", "--ignore-not-found"
            )
        for namespace, used in self.usage.items():
            if used is None:
                continue
            self.lab.wait_until(
                lambda ns=namespace, was=used: quota(self.lab, ns).get("status", {}).get("used", {}) == was,
                f"quota {namespace}/{QUOTA} to release the test's pods",
                60,
            )


@pytest.fixture
def pods(layers):
    made = Pods(layers.lab)
    yield made
    made.cleanup()


def refused(result, *texts: str) -> str:
    assert result.returncode != 0, f"the API server admitted what it should refuse:\n{result.stdout}"
    for text in texts:
        assert text in result.stderr, f"{text!r} not in the API server's answer:\n{result.stderr}"
    return result.stderr


# --- Namespaces ------------------------------------------------------------------------------------


def test_every_team_has_its_namespace_with_the_team_labels(layers):
    for team in TEAMS:
        namespace = layers.lab.get("namespace", team["namespace"])
        labels = namespace["metadata"]["labels"]
        assert labels[TEAM_LABEL] == team["name"], labels
        assert labels["app.kubernetes.io/managed-by"] == "baremetal.mlops", labels
        assert namespace["status"]["phase"] == "Active"
    listed = layers.lab.get("namespaces", "-l", TEAM_LABEL)["items"]
    assert {n["metadata"]["name"] for n in listed} == {t["namespace"] for t in TEAMS}


# --- GPU placement policy --------------------------------------------------------------------------


@pytest.mark.parametrize("team", TEAMS, ids=TEAM_IDS)
def test_a_compliant_gpu_pod_is_admitted_and_placed_on_a_node_of_the_team_product(layers, pods, team):
    """Each of the team's GPU resources (whole GPUs or the MIG slice its class exposes), asked with required
    affinity on the team's products, is admitted and the scheduler puts it on a GPU node of that product."""
    lab, namespace = layers.lab, team["namespace"]
    for resource in team_resources(team):
        name = unique("gpu-ok")
        pods.admitted(pod(namespace, name, {resource: 1}, [product_term(team_products(team))], gpu_tolerations(lab)))
        node = lab.get("node", pods.node_of(namespace, name))
        labels = node["metadata"]["labels"]
        assert labels[PRODUCT_LABEL] in team_products(team), (name, node["metadata"]["name"], labels)
        assert labels[CLASS_LABEL] in team["gpu_classes"], labels
        assert int(node["status"]["allocatable"].get(resource, 0)) >= 1, node["status"]["allocatable"]


def non_compliant_placements(team: dict) -> dict[str, list | None]:
    own, others = team_products(team), other_products(team)
    assert others, "the lab inventory needs teams on different GPU products"
    return {
        "no affinity": None,
        "another team's product": [product_term(others)],
        "an own and another team's product": [product_term(own + others)],
        "a second term without the product": [product_term(own), [{"key": CLASS_LABEL, "operator": "Exists"}]],
        "NotIn instead of In": [[{"key": PRODUCT_LABEL, "operator": "NotIn", "values": others}]],
    }


@pytest.mark.parametrize("team", TEAMS, ids=TEAM_IDS)
def test_a_gpu_pod_without_affinity_on_the_team_products_is_denied_with_the_policy_message(layers, pods, team):
    lab, namespace = layers.lab, team["namespace"]
    resource = team_resources(team)[0]
    for case, terms in non_compliant_placements(team).items():
        name = unique("gpu-bad")
        result = pods.create(pod(namespace, name, {resource: 1}, terms, gpu_tolerations(lab)))
        answer = refused(
            result,
            f"pods \"{name}\" is forbidden: ValidatingAdmissionPolicy '{POLICY}' "
            f"with binding '{POLICY}-{team['name']}' denied request: ",
            policy_message(namespace, team_products(team)),
        )
        assert lab.kubectl("get", "pod", name, "-n", namespace, check=False).returncode != 0, (case, answer)


@pytest.mark.parametrize("team", TEAMS, ids=TEAM_IDS)
def test_a_cpu_pod_without_gpu_requests_is_admitted(layers, pods, team):
    namespace = team["namespace"]
    name = unique("cpu")
    cpu = pod(namespace, name)
    cpu["spec"]["containers"][0]["resources"] = {"requests": {"cpu": "100m", "memory": "64Mi"}}
    pods.admitted(cpu)
    assert pods.node_of(namespace, name)


def test_a_team_with_several_products_is_told_them_in_a_stable_order(layers, pods):
    """The message lists the allowed products sorted: CEL walks the param ConfigMap's keys in no fixed order.

    A team on every class of the inventory, rendered by the role's own function and bound to the
    delivered policy in a scratch namespace; removed at the end."""
    lab = layers.lab
    team = {"name": "lab-probe-multi", "namespace": unique("tenancy-multi"), "gpu_classes": sorted(CLASSES)}
    rendered = platform_objects.tenancy_objects([team], CLASSES, {}, 1, POLICY)
    scratch = [o for o in rendered if o["kind"] in ("Namespace", "ConfigMap", "ValidatingAdmissionPolicyBinding")]
    lab.apply(scratch)
    try:
        expected = policy_message(team["namespace"], team_products(team))
        assert len(team_products(team)) > 1

        def answer() -> str:
            result = pods.create(pod(team["namespace"], unique("gpu-bad"), {"nvidia.com/gpu": 1}))
            return result.stderr if result.returncode != 0 else ""

        lab.wait_until(lambda: expected in answer(), "the scratch binding to deny unplaced GPU pods", 30)
        answers = {answer() for _ in range(8)}
        assert all(expected in a for a in answers), answers
    finally:
        for obj in reversed(scratch):
            kind, meta = obj["kind"], obj["metadata"]
            scope = ["-n", meta["namespace"]] if "namespace" in meta else []
            lab.kubectl("delete", kind.lower(), meta["name"], *scope, "--ignore-not-found", "--wait=false")


# --- GPU quotas ------------------------------------------------------------------------------------


def expected_hard(team: dict) -> dict[str, str]:
    fleet = {class_resource(c) for c in CLASSES.values()} | {"nvidia.com/gpu"}
    own = team.get("gpu_quota") or {}
    return {
        f"requests.{r}": str(own.get(r, DEFAULT_QUOTA)) if r in team_resources(team) else "0" for r in sorted(fleet)
    }


@pytest.mark.parametrize("team", TEAMS, ids=TEAM_IDS)
def test_each_team_has_a_quota_on_whole_gpus_and_every_mig_slice(layers, team):
    found = quota(layers.lab, team["namespace"])
    assert found["spec"]["hard"] == expected_hard(team)
    # The quota controller took it up: status mirrors hard.
    assert found["status"]["hard"] == expected_hard(team)


@pytest.mark.parametrize("team", TEAMS, ids=TEAM_IDS)
def test_a_pod_over_the_team_quota_is_refused_with_the_quota_message(layers, pods, team):
    """Fill the team's share of each of its GPU resources, then one more is refused by the quota."""
    lab, namespace = layers.lab, team["namespace"]
    placed = [product_term(team_products(team))]
    for resource in team_resources(team):
        key = f"requests.{resource}"
        state = quota(lab, namespace)["status"]
        hard, used = int(state["hard"][key]), int(state.get("used", {}).get(key, 0))
        assert hard == int(expected_hard(team)[key]) > 0
        if hard > used:
            name = unique("gpu-fill")
            pods.admitted(pod(namespace, name, {resource: hard - used}, placed, gpu_tolerations(lab)))
            assert lab.get("node", pods.node_of(namespace, name))["metadata"]["labels"][PRODUCT_LABEL] in (
                team_products(team)
            )
        name = unique("gpu-over")
        refused(
            pods.create(pod(namespace, name, {resource: 1}, placed, gpu_tolerations(lab))),
            f'pods "{name}" is forbidden: exceeded quota: {QUOTA}, requested: {key}=1, '
            f"used: {key}={hard}, limited: {key}={hard}",
        )


@pytest.mark.parametrize("team", TEAMS, ids=TEAM_IDS)
def test_gpu_resources_outside_the_team_classes_have_a_zero_quota(layers, pods, team):
    """A placement the policy accepts still cannot take a GPU resource the team's classes do not expose."""
    lab, namespace = layers.lab, team["namespace"]
    outside = sorted(set(k.removeprefix("requests.") for k in expected_hard(team)) - set(team_resources(team)))
    assert outside, "the lab inventory needs classes exposing different GPU resources"
    for resource in outside:
        key = f"requests.{resource}"
        name = unique("gpu-foreign")
        refused(
            pods.create(pod(namespace, name, {resource: 1}, [product_term(team_products(team))], gpu_tolerations(lab))),
            f'pods "{name}" is forbidden: exceeded quota: {QUOTA}, requested: {key}=1, used: {key}=0, limited: {key}=0',
        )


# --- RBAC, by impersonating what the role binds ----------------------------------------------------


def bound_identities(lab, team: dict) -> list[list[str]]:
    """kubectl impersonation arguments for every subject of the team's RoleBindings, read from the cluster."""
    bindings = lab.get("rolebindings", "-n", team["namespace"], "-l", f"{TEAM_LABEL}={team['name']}")["items"]
    identities = []
    for subject in (s for b in bindings for s in b["subjects"]):
        if subject["kind"] == "ServiceAccount":
            lab.get("serviceaccount", subject["name"], "-n", subject["namespace"])
            identities.append([f"--as=system:serviceaccount:{subject['namespace']}:{subject['name']}"])
        elif subject["kind"] == "Group":
            identities.append([f"--as=lab-probe-{team['name']}", f"--as-group={subject['name']}"])
        else:
            identities.append([f"--as={subject['name']}"])
    assert identities, f"no RoleBinding in {team['namespace']} binds anyone"
    return identities


def review(lab, who: list[str], kind: str, spec: dict) -> dict:
    """POST an authorization review as the impersonated identity; the API server's status answer.

    Raw, because kubectl's client-side validation would first list CRDs, which a team may not.
    """
    body = {"apiVersion": "authorization.k8s.io/v1", "kind": kind, "spec": spec}
    path = f"/apis/authorization.k8s.io/v1/{kind.lower()}s"
    return json.loads(lab.kubectl("create", "--raw", path, "-f", "-", *who, stdin=json.dumps(body)).stdout)["status"]


def access(lab, who: list[str], verb: str, group: str, resource: str, namespace: str) -> bool:
    """The API server's SelfSubjectAccessReview for the impersonated identity.

    This is the request `kubectl auth can-i` sends; made by hand because can-i cannot name the API group
    of a resource whose CRD is absent (it asks for a core resource called `inferenceservices.serving.kserve.io`).
    """
    attributes = {"namespace": namespace, "verb": verb, "group": group, "resource": resource}
    return review(lab, who, "SelfSubjectAccessReview", {"resourceAttributes": attributes})["allowed"]


def can_i(lab, who: list[str], verb: str, resource: str, namespace: str) -> str:
    return lab.kubectl("auth", "can-i", verb, resource, "-n", namespace, *who, check=False).stdout.strip()


@pytest.mark.parametrize("team", TEAMS, ids=TEAM_IDS)
def test_a_team_manages_inference_services_workflows_and_secrets_in_its_own_namespace(layers, team):
    lab, namespace = layers.lab, team["namespace"]
    for who in bound_identities(lab, team):
        for group, resource in TEAM_KINDS:
            for verb in ("create", "get", "list", "update", "delete"):
                assert access(lab, who, verb, group, resource, namespace), (who, verb, resource)
        # The rules review the other-namespace test relies on sees these grants here.
        rules = review(lab, who, "SelfSubjectRulesReview", {"namespace": namespace})["resourceRules"]
        granted = {
            (g, r) for rule in rules if "create" in rule["verbs"] for g in rule["apiGroups"] for r in rule["resources"]
        }
        assert set(TEAM_KINDS) <= granted, (who, granted)
        # Nothing beyond its workloads: no pods by hand, no RBAC of its own.
        for resource in ("pods", "rolebindings.rbac.authorization.k8s.io", "resourcequotas"):
            assert can_i(lab, who, "create", resource, namespace) == "no", (who, resource)
        secret = unique("team-secret")
        lab.kubectl("create", "secret", "generic", secret, "-n", namespace, "--from-literal=token=lab", *who)
        try:
            listed = lab.kubectl("get", "secrets", "-n", namespace, "-o", "name", *who).stdout.split()
            assert f"secret/{secret}" in listed
        finally:
            lab.kubectl("delete", "secret", secret, "-n", namespace, *who)


def test_a_team_cannot_create_anything_in_another_team_namespace(layers):
    lab = layers.lab
    assert len(TEAMS) > 1, "the lab inventory needs two teams"
    for team in TEAMS:
        for other in (t for t in TEAMS if t is not team):
            target = other["namespace"]
            for who in bound_identities(lab, team):
                user = who[0].removeprefix("--as=")
                # Every rule the identity holds in that namespace: none creates anything there.
                rules = review(lab, who, "SelfSubjectRulesReview", {"namespace": target})
                creating = {
                    (g, r)
                    for rule in rules.get("resourceRules", [])
                    if {"create", "*"} & set(rule["verbs"])
                    for g in rule.get("apiGroups", [""])
                    for r in rule["resources"]
                }
                assert creating <= SELF_REVIEWS, (who, target, creating)
                for group, resource in TEAM_KINDS:
                    assert not access(lab, who, "create", group, resource, target), (who, resource, target)
                for resource in ("secrets", "configmaps", "pods"):
                    assert can_i(lab, who, "create", resource, target) == "no", (who, resource, target)
                for kind in ("secret generic", "configmap"):
                    name = unique("intruder")
                    result = lab.kubectl(
                        "create", *kind.split(), name, "-n", target, "--from-literal=k=v", *who, check=False
                    )
                    plural = "secrets" if kind.startswith("secret") else "configmaps"
                    refused(
                        result,
                        f'{plural} is forbidden: User "{user}" cannot create resource "{plural}" in API group "" '
                        f'in the namespace "{target}"',
                    )
                    assert lab.kubectl("get", plural, name, "-n", target, check=False).returncode != 0

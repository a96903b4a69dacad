from __future__ import annotations

import pytest
import yaml

from ansible_collections.baremetal.mlops.plugins.plugin_utils import release_render as rr

VERSIONS = {"metallb": "0.16.1", "gpu_operator": "v26.7.0", "minio_operator": "7.1.1"}
REPOS = {
    "metallb": "https://metallb.github.io/metallb",
    "gpu-operator": "oci://nvcr.io/charts",
    "operator": "https://o",
}
SETTINGS = {"repo_url": "https://git.example/p.git", "revision": "main", "path": "clusters/dc1"}


def pool(name, namespace="metallb-system"):
    return {
        "apiVersion": "metallb.io/v1beta1",
        "kind": "IPAddressPool",
        "metadata": {"name": name, "namespace": namespace},
    }


def plan(**overrides):
    args = dict(
        component="metallb",
        layer="networking",
        releases=[
            {"name": "metallb", "chart": "metallb", "namespace": "metallb-system", "values": {"a": 1}, "sync_wave": 1}
        ],
        objects=[pool("b"), pool("a")],
        chart_versions=VERSIONS,
        repositories=REPOS,
    )
    args.update(overrides)
    return rr.plan(**args)


def test_plan_resolves_version_repository_and_global_wave():
    result = plan()
    assert result["releases"] == [
        {
            "name": "metallb",
            "chart": "metallb",
            "version": "0.16.1",
            "repository": "https://metallb.github.io/metallb",
            "namespace": "metallb-system",
            "values": {"a": 1},
            "sync_wave": 21,
        }
    ]
    assert [o["metadata"]["name"] for o in result["objects"]] == ["a", "b"]
    assert result["objects_sync_wave"] == 25


def test_api_definitions_take_the_wave_before_the_layers_releases():
    """The Gateway API CRDs (objects only) sync before Cilium's release, the layer's first."""
    assert plan(releases=[], objects_wave_offset=-1)["objects_sync_wave"] == 19
    assert rr.LAYER_WAVES["networking"] == 20  # the wave of the layer's first release (cilium)


def test_versions_key_names_the_versions_entry():
    result = plan(
        component="minio",
        layer="storage",
        releases=[{"name": "minio-operator", "chart": "operator", "versions_key": "minio_operator", "namespace": "m"}],
        objects=[],
    )
    assert result["releases"][0]["version"] == "7.1.1"
    assert result["releases"][0]["sync_wave"] == 30


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"layer": "compute"}, "layer 'compute' is unknown; expected one of tenancy, networking"),
        (
            {"releases": [{"name": "x", "chart": "cilium", "namespace": "n"}]},
            "metallb release 'x': versions.yml has no chart version 'cilium' in the selected release",
        ),
        (
            {"releases": [{"name": "x", "chart": "metallb", "namespace": "n"}], "repositories": {}},
            "metallb release 'x': platform_chart_repositories has no entry 'metallb'",
        ),
        (
            {"releases": [{"name": "x", "chart": "metallb", "namespace": "n", "sync_wave": 5}]},
            "metallb release 'x': sync_wave 5 is outside 0-4 (the layer's release waves)",
        ),
        ({"objects": [pool("a"), pool("a")]}, "metallb objects[1]: IPAddressPool a twice"),
        (
            {"objects_wave_offset": 2},
            "metallb: objects sync wave offset 2 is neither -1 (before the layer's releases) nor 5 (after them)",
        ),
        (
            {"objects": [{"kind": "X", "metadata": {"name": "a"}}]},
            "metallb objects[0]: every object needs apiVersion and kind",
        ),
    ],
)
def test_plan_refuses_bad_input(overrides, message):
    with pytest.raises(rr.RenderError) as error:
        plan(**overrides)
    assert message in str(error.value)


def test_namespaces_come_first():
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-a"}}
    config = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "team-a"}}
    result = plan(objects=[config, namespace])
    assert [o["kind"] for o in result["objects"]] == ["Namespace", "ConfigMap"]


def test_secret_values_never_reach_the_plan():
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "s", "namespace": "n"},
        "stringData": {"password": "hunter2"},
        "data": {"token": "aHVudGVyMg=="},
    }
    result = plan(secrets=[secret])
    assert result["secrets"] == [{"name": "s", "namespace": "n", "type": "Opaque", "keys": ["password", "token"]}]
    assert "hunter2" not in repr(result) and "aHVudGVyMg" not in repr(result)


def test_gitops_files_layout_and_applications():
    files = rr.gitops_files(plan(node_labels=[{"nodes": ["n2", "n1"], "labels": {"k": "v"}}]), SETTINGS)
    assert sorted(files) == [
        "apps/networking/metallb/metallb-objects.yaml",
        "apps/networking/metallb/metallb.yaml",
        "layers/networking/metallb/ipaddresspool-metallb-system-a.yaml",
        "layers/networking/metallb/ipaddresspool-metallb-system-b.yaml",
        "root.yaml",
        "site/networking/metallb/node-labels.yaml",
    ]
    root = yaml.safe_load(files["root.yaml"])
    assert root["spec"]["source"] == {
        "repoURL": "https://git.example/p.git",
        "targetRevision": "main",
        "path": "clusters/dc1/apps",
        "directory": {"recurse": True},
    }
    app = yaml.safe_load(files["apps/networking/metallb/metallb.yaml"])
    assert app["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"] == "21"
    assert app["spec"]["source"] == {
        "repoURL": "https://metallb.github.io/metallb",
        "chart": "metallb",
        "targetRevision": "0.16.1",
        "helm": {"releaseName": "metallb", "valuesObject": {"a": 1}},
    }
    assert app["spec"]["destination"]["namespace"] == "metallb-system"
    assert "CreateNamespace=true" in app["spec"]["syncPolicy"]["syncOptions"]
    objects_app = yaml.safe_load(files["apps/networking/metallb/metallb-objects.yaml"])
    assert objects_app["spec"]["source"]["path"] == "clusters/dc1/layers/networking/metallb"
    assert objects_app["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"] == "25"
    labels = yaml.safe_load(files["site/networking/metallb/node-labels.yaml"])
    assert labels["node_labels"] == [{"nodes": ["n1", "n2"], "labels": {"k": "v"}}]


def test_oci_repositories_lose_their_scheme_for_argo_cd():
    result = plan(
        component="gpu-operator",
        layer="gpu",
        releases=[{"name": "gpu-operator", "chart": "gpu-operator", "namespace": "gpu-operator"}],
        objects=[],
    )
    files = rr.gitops_files(result, SETTINGS)
    app = yaml.safe_load(files["apps/gpu/gpu-operator/gpu-operator.yaml"])
    assert app["spec"]["source"]["repoURL"] == "nvcr.io/charts"
    assert "apps/gpu/gpu-operator/gpu-operator-objects.yaml" not in files


def test_files_do_not_depend_on_input_order():
    first = rr.gitops_files(plan(objects=[pool("a"), pool("b")]), SETTINGS)
    reordered = {"namespace": "metallb-system", "name": "a"}
    second = rr.gitops_files(
        plan(objects=[pool("b"), {"metadata": reordered, "kind": "IPAddressPool", "apiVersion": "metallb.io/v1beta1"}]),
        SETTINGS,
    )
    assert first == second


def test_yaml_puts_identity_first_and_keeps_multiline_strings_readable():
    text = rr.to_yaml(
        {"data": {"config.yaml": "a: 1\nb: 2\n"}, "metadata": {"name": "x"}, "kind": "K", "apiVersion": "v1"}
    )
    assert text.splitlines()[:3] == ["---", "apiVersion: v1", "kind: K"]
    assert "config.yaml: |" in text
    assert yaml.safe_load(text)["data"]["config.yaml"] == "a: 1\nb: 2\n"


def test_an_empty_repository_url_is_refused():
    with pytest.raises(rr.RenderError, match="platform_gitops_repo_url"):
        rr.gitops_files(plan(), {"repo_url": ""})


def test_parse_gitops_tree_reads_the_files_back():
    files = rr.gitops_files(plan(), SETTINGS)
    tree = rr.parse_gitops_tree(files)
    assert [a["metadata"]["name"] for a in tree["applications"]] == ["metallb-objects", "metallb", "platform"]
    assert [o["metadata"]["name"] for o in tree["objects"]] == ["a", "b"]


@pytest.mark.parametrize(
    ("overrides", "automated"),
    [
        ({}, {"prune": True, "selfHeal": True}),
        ({"root_prune": False}, {"prune": False, "selfHeal": True}),
        ({"root_prune": False, "root_self_heal": False}, {"prune": False, "selfHeal": False}),
    ],
)
def test_root_application_sync_policy_is_configurable(overrides, automated):
    root = rr.root_application({**SETTINGS, **overrides})
    assert root["metadata"]["name"] == "platform"
    assert "annotations" not in root["metadata"]
    assert root["spec"]["syncPolicy"]["automated"] == automated
    assert "CreateNamespace=true" in root["spec"]["syncPolicy"]["syncOptions"]
    # gitops delivery writes the same object as root.yaml
    files = rr.gitops_files(plan(), {**SETTINGS, **overrides})
    assert yaml.safe_load(files["root.yaml"]) == rr.plain(root)


def test_serving_application_syncs_the_teams_folder_into_its_namespace():
    app = rr.serving_application({"name": "vision", "namespace": "team-vision"}, SETTINGS)
    assert app["metadata"]["name"] == "serving-vision"
    assert app["metadata"]["namespace"] == "argocd"
    assert app["metadata"]["labels"]["baremetal.mlops/team"] == "vision"
    assert app["spec"]["source"] == {
        "repoURL": "https://git.example/p.git",
        "targetRevision": "main",
        "path": "clusters/dc1/serving/vision",
        "directory": {"recurse": True},
    }
    assert app["spec"]["destination"]["namespace"] == "team-vision"
    assert app["spec"]["syncPolicy"]["automated"] == {"prune": True, "selfHeal": True}
    assert "SkipDryRunOnMissingResource=true" in app["spec"]["syncPolicy"]["syncOptions"]
    with pytest.raises(rr.RenderError, match="platform_gitops_repo_url"):
        rr.serving_application({"name": "vision", "namespace": "team-vision"}, {"repo_url": ""})


def test_serving_file_puts_an_object_in_the_teams_folder():
    isvc = {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {"name": "iris", "namespace": "team-vision"},
        "spec": {"predictor": {}},
    }
    files = rr.serving_file(isvc, "vision")
    assert list(files) == ["serving/vision/inferenceservice-team-vision-iris.yaml"]
    assert yaml.safe_load(files["serving/vision/inferenceservice-team-vision-iris.yaml"]) == isvc


def test_missing_crds_names_custom_resources_without_an_established_crd():
    crd = {
        "spec": {"group": "metallb.io", "names": {"kind": "IPAddressPool"}},
        "status": {"conditions": [{"type": "Established", "status": "True"}]},
    }
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x"}}
    peer = {"apiVersion": "metallb.io/v1beta2", "kind": "BGPPeer", "metadata": {"name": "p"}}
    assert rr.missing_crds([pool("a"), namespace, peer], [crd]) == ["BGPPeer.metallb.io"]
    assert rr.missing_crds([pool("a"), namespace], [crd]) == []


def test_established_crds_keeps_only_established_ones_reduced_to_what_missing_crds_reads():
    full = {
        "metadata": {"name": "ipaddresspools.metallb.io"},
        "spec": {"group": "metallb.io", "names": {"kind": "IPAddressPool", "plural": "ipaddresspools"}, "versions": []},
        "status": {
            "conditions": [{"type": "NamesAccepted", "status": "True"}, {"type": "Established", "status": "True"}]
        },
    }
    pending = {
        "spec": {"group": "metallb.io", "names": {"kind": "BGPPeer"}},
        "status": {"conditions": [{"type": "Established", "status": "False"}]},
    }
    kept = rr.established_crds([full, pending])
    assert kept == [
        {
            "metadata": {"name": "ipaddresspools.metallb.io"},
            "spec": {"group": "metallb.io", "names": {"kind": "IPAddressPool"}},
            "status": {"conditions": [{"type": "Established", "status": "True"}]},
        }
    ]
    peer = {"apiVersion": "metallb.io/v1beta2", "kind": "BGPPeer", "metadata": {"name": "p"}}
    assert rr.missing_crds([pool("a"), peer], kept) == ["BGPPeer.metallb.io"]


def test_node_label_patches_leave_out_nodes_that_carry_the_labels_already():
    entry = {"nodes": ["gpu-1", "gpu-2", "gpu-3"], "labels": {"nvidia.com/mig.config": "all-disabled", "tier": "a"}}
    nodes = [
        {"metadata": {"name": "gpu-1", "labels": {"nvidia.com/mig.config": "all-disabled", "tier": "a", "x": "y"}}},
        {"metadata": {"name": "gpu-2", "labels": {"nvidia.com/mig.config": "balanced", "tier": "a"}}},
    ]
    patches = rr.node_label_patches(entry, nodes)
    assert [p["metadata"]["name"] for p in patches] == ["gpu-2", "gpu-3"]  # gpu-3: not listed, the API names it
    assert patches[0] == {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "gpu-2", "labels": entry["labels"]}}
    assert [p["metadata"]["name"] for p in rr.node_label_patches(entry)] == ["gpu-1", "gpu-2", "gpu-3"]
    converged = [{"metadata": {"name": n, "labels": {**entry["labels"], "other": "kept"}}} for n in entry["nodes"]]
    assert rr.node_label_patches(entry, converged) == []


def crd(name: str, description: str = "a route") -> dict:
    group = name.split(".", 1)[1]
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": name, "annotations": {"gateway.networking.k8s.io/bundle-version": "v1.6.1"}},
        "spec": {
            "group": group,
            "names": {"kind": name.split(".")[0].title()},
            "versions": [{"name": "v1", "schema": {"openAPIV3Schema": {"description": description}}}],
        },
    }


def live(manifest: dict, established: bool = True) -> dict:
    """The CRD as the API server lists it after direct delivery applied `manifest`."""
    return {
        **manifest,
        "metadata": {**manifest["metadata"], "uid": "1", "resourceVersion": "9"},
        "status": {"conditions": [{"type": "Established", "status": "True" if established else "False"}]},
    }


def test_only_crds_new_or_from_another_manifest_are_applied_again():
    routes, gateways, classes = crd("httproutes.gateway.networking.k8s.io"), crd("gateways.gateway.x"), crd("c.y.z")
    pool_object = pool("a")
    first = rr.crds_to_apply([routes, gateways, pool_object], [])
    assert [c["metadata"]["name"] for c in first] == ["httproutes.gateway.networking.k8s.io", "gateways.gateway.x"]
    for applied in first:  # the digest rides along, the manifest's own annotations kept
        assert applied["metadata"]["annotations"][rr.CRD_DIGEST_ANNOTATION] == rr.manifest_digest(applied)
        assert applied["metadata"]["annotations"]["gateway.networking.k8s.io/bundle-version"] == "v1.6.1"
    cluster = rr.established_crds([live(first[0]), live(first[1], established=False), live(classes)])
    # applied and Established: left alone; not Established, or never applied by us (no digest): applied again
    again = rr.crds_to_apply([routes, gateways, classes], cluster)
    assert [c["metadata"]["name"] for c in again] == ["gateways.gateway.x", "c.y.z"]
    # a new bundle (another schema) is applied again
    newer = crd("httproutes.gateway.networking.k8s.io", description="a route, v1.7")
    assert [c["metadata"]["name"] for c in rr.crds_to_apply([newer], cluster)] == [newer["metadata"]["name"]]
    # the manifests themselves are not changed
    assert rr.CRD_DIGEST_ANNOTATION not in routes["metadata"]["annotations"]


def test_the_manifest_digest_ignores_only_our_own_annotation():
    routes = crd("httproutes.gateway.networking.k8s.io")
    (annotated,) = rr.crds_to_apply([routes], [])
    assert rr.manifest_digest(annotated) == rr.manifest_digest(routes)
    bare = {**routes, "metadata": {"name": routes["metadata"]["name"]}}
    assert rr.manifest_digest(bare) != rr.manifest_digest(routes)

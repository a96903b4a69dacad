from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest
import yaml

from ansible_collections.baremetal.mlops.plugins.plugin_utils import chart_check

ROOT = Path(__file__).resolve().parents[4]
MIRROR = Path(os.environ.get("LAB_CHART_MIRROR", ROOT.parent / "shared" / "mirror" / "charts"))


def make_chart(tmp_path, files: dict) -> str:
    path = tmp_path / "chart.tgz"
    with tarfile.open(path, "w:gz") as archive:
        for name, content in files.items():
            data = content.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return str(path)


@pytest.fixture
def demo(tmp_path):
    values = {
        "image": {"repository": "r", "tag": None},
        "nodeSelector": {},
        "config": {"mode": "a", "extra": None},
        "replicas": 1,
        "list": [1],
    }
    return make_chart(
        tmp_path,
        {
            "demo/Chart.yaml": yaml.safe_dump({"name": "demo", "dependencies": [{"name": "sub", "alias": "child"}]}),
            "demo/values.yaml": yaml.safe_dump(values) + "# commented:\n",
            "demo/charts/sub/Chart.yaml": yaml.safe_dump({"name": "sub"}),
            "demo/charts/sub/values.yaml": yaml.safe_dump({"enabled": True, "deep": {"x": 1}}),
            "demo/templates/crd.yaml": (
                "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n"
                '  labels: {{- include "l" . | nindent 4 }}\n    a: b\n  name: things.demo.io\n'
                "{{- if .Values.x }}\n{{- end }}\nspec:\n  group: demo.io\n  names:\n    kind: Thing\n"
            ),
        },
    )


@pytest.mark.parametrize(
    ("values", "problems"),
    [
        ({"image": {"repository": "x", "tag": "1"}}, []),
        ({"nodeSelector": {"any/key": "v"}}, []),  # an empty map takes any keys
        ({"config": {"extra": {"free": 1}}}, []),  # a null default fixes no shape
        ({"child": {"enabled": False}, "global": {"x": 1}}, []),  # subchart under its alias; global
        ({"replicsa": 2}, ["replicsa: the chart has no such value"]),
        ({"config": {"mdoe": "b"}}, ["config.mdoe: the chart has no such value"]),
        ({"child": {"deep": {"y": 1}}}, ["child.deep.y: the chart has no such value"]),
        ({"replicas": {"count": 2}}, ["replicas: the chart has a int here, not a map"]),
        ({"commented": True}, ["commented: the chart has no such value"]),  # not in DOCUMENTED_IN_COMMENTS
    ],
)
def test_value_rule(demo, values, problems):
    assert chart_check.value_problems(values, chart_check.checked_defaults(demo)) == problems


def test_crds_are_read_from_templates_with_their_actions_blanked(demo):
    crds = chart_check.chart_crds(demo)
    assert [crd["spec"]["names"]["kind"] for crd in crds] == ["Thing"]
    assert crds[0]["metadata"]["labels"] == {"a": "b"}


def test_an_unreadable_archive_is_an_error(tmp_path):
    bad = tmp_path / "bad.tgz"
    bad.write_text("not a tarball")
    with pytest.raises(chart_check.ChartError, match="cannot read chart archive"):
        chart_check.chart_defaults(str(bad))


# The mirror's charts: the rule holds on the real ones.


def mirror(name: str) -> str:
    path = MIRROR / name
    assert path.is_file(), f"the chart mirror must hold {path} (see docs/lab.md)"
    return str(path)


def test_subchart_values_of_a_mirror_chart_are_checked():
    defaults = chart_check.checked_defaults(mirror("metallb-0.16.1.tgz"))
    assert (
        chart_check.value_problems({"frr-k8s": {"prometheus": {"serviceMonitor": {"enabled": True}}}}, defaults) == []
    )
    assert chart_check.value_problems({"frrk8s": {"enable": True}}, defaults) == [
        "frrk8s.enable: the chart has no such value"
    ]


def test_keys_documented_in_comments_are_accepted_only_where_listed():
    tenant = chart_check.checked_defaults(mirror("tenant-7.1.1.tgz"))
    assert chart_check.value_problems({"tenant": {"configSecret": {"existingSecret": True}}}, tenant) == []
    operator = chart_check.checked_defaults(mirror("operator-7.1.1.tgz"))
    assert chart_check.value_problems({"tenant": {}}, operator) == ["tenant: the chart has no such value"]


def test_mirror_crds_include_metallbs_and_the_gpu_operators():
    kinds = {crd["spec"]["names"]["kind"] for crd in chart_check.chart_crds(mirror("metallb-0.16.1.tgz"))}
    assert {"IPAddressPool", "L2Advertisement", "BGPPeer", "BGPAdvertisement"} <= kinds
    kinds = {crd["spec"]["names"]["kind"] for crd in chart_check.chart_crds(mirror("gpu-operator-v26.7.0.tgz"))}
    assert "ClusterPolicy" in kinds


def test_a_crd_a_template_renders_from_files_is_found_once():
    crds = chart_check.chart_crds(mirror("kserve-crd-v0.20.0.tgz"))
    names = [crd["metadata"]["name"] for crd in crds]
    # its template for clusterstoragecontainers renders the same CRD from files/
    assert names.count("clusterstoragecontainers.serving.kserve.io") == 1
    assert {"inferenceservices.serving.kserve.io", "clusterservingruntimes.serving.kserve.io"} <= set(names)


def test_argo_cds_config_maps_take_any_key_and_the_rest_is_still_checked():
    argocd = chart_check.checked_defaults(mirror("argo-cd-10.1.1.tgz"))
    settings = {"configs": {"cm": {"dex.config": "connectors: []", "resource.customizations.health.x_Y": "..."}}}
    assert chart_check.value_problems(settings, argocd) == []
    assert chart_check.value_problems({"configs": {"cmm": {}}, "server": {"replicaz": 2}}, argocd) == [
        "configs.cmm: the chart has no such value",
        "server.replicaz: the chart has no such value",
    ]
    # the open maps are those of Argo CD only
    metallb = chart_check.checked_defaults(mirror("metallb-0.16.1.tgz"))
    assert chart_check.value_problems({"configs": {"cm": {}}}, metallb) == ["configs: the chart has no such value"]

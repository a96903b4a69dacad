"""The preflight play, run by ansible-playbook on real inventories."""

from __future__ import annotations

import pytest
import yaml

from ansible_collections.baremetal.mlops.plugins.plugin_utils.contract_hosts import FULL_MERGE_ENV

pytestmark = pytest.mark.e2e


def edit(path, change):
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text("---\n" + yaml.safe_dump(data, sort_keys=False))


def test_example_inventory_passes_preflight(playbook, vault_password):
    result = playbook("playbooks/preflight.yml", "-i", "inventories/example", "--vault-password-file", vault_password)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "failed=0" in result.stdout


def test_lab_inventory_passes_preflight(playbook, lab_secrets):
    result = playbook("playbooks/preflight.yml", "-i", "inventories/lab")
    assert result.returncode == 0, result.stdout + result.stderr


def test_planted_problems_are_all_reported_in_one_run(playbook, vault_password, example_inventory):
    group_vars = example_inventory / "group_vars" / "all"

    def platform(data):
        data["platform_pod_cidr"] = "10.96.0.0/16"
        data["platform_kubernetes_version"] = "v1.29.4"

    def networking(data):
        data["metallb_pools"].append({"name": "stray", "addresses": ["192.168.50.0/28"]})
        data["bgp_peers"][1]["asn"] = 70000000000

    def gpu(data):
        data["gpu_node_classes"]["l4-inference"]["mig_config"] = "all-1g.10gb"

    def teams(data):
        data["platform_teams"][1]["namespace"] = "team-vision"

    def tracking(data):
        data["mlflow_db_password"] = "{{ vault_mlflow_db_pasword }}"

    def hosts(data):
        gpu_nodes = data["all"]["children"]["k8s_cluster"]["children"]["gpu_nodes"]["hosts"]
        gpu_nodes["a100-03.dc1.example.com"]["gpu_node_class"] = "h100-training"
        workers = data["all"]["children"]["k8s_cluster"]["children"]["workers"]["hosts"]
        workers["stor-03.dc1.example.com"]["ansible_host"] = "10.20.0.52"

    for name, change in [
        ("platform.yml", platform),
        ("networking.yml", networking),
        ("gpu.yml", gpu),
        ("teams.yml", teams),
        ("tracking.yml", tracking),
    ]:
        edit(group_vars / name, change)
    edit(example_inventory / "hosts.yml", hosts)

    result = playbook("playbooks/site.yml", "-i", example_inventory, "--vault-password-file", vault_password)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    expected = [
        "platform_kubernetes_version: 'v1.29.4' is outside the compatibility matrix of release 2026.11; "
        "expected a 1.34 / 1.35 / 1.36 release (versions.yml)",
        "platform_pod_cidr: '10.96.0.0/16' overlaps platform_service_cidr '10.96.0.0/12'; "
        "expected the node, pod and service networks to be disjoint",
        "metallb_pools[stray]: '192.168.50.0/28' is outside platform_node_network '10.20.0.0/24'; "
        "expected MetalLB pools inside the node network",
        "ansible_host: '10.20.0.52' is used by 2 hosts (stor-02.dc1.example.com, stor-03.dc1.example.com); "
        "expected unique addresses",
        "bgp_peers[rtr-02].asn: 70000000000 is not a usable AS number; expected an integer from 1 to 4294967294, "
        "not 23456 or 65535 (private: 64512-65534, 4200000000-4294967294)",
        "gpu_node_classes[l4-inference].mig_config: 'all-1g.10gb' asks for MIG on NVIDIA-L4, which has no MIG; "
        "expected 'none' (use time_slicing_replicas to share this GPU)",
        "hostvars[a100-03.dc1.example.com].gpu_node_class: 'h100-training' is not defined in gpu_node_classes; "
        "expected one of a100-training, a100-inference-mig, l4-inference",
        "platform_teams[*].namespace: 'team-vision' is claimed by 2 teams (vision, fraud); "
        "expected one namespace per team",
        "mlflow_db_password: refers to an undefined variable ('vault_mlflow_db_pasword' is undefined); "
        "expected a secret from the vault (see docs/secrets.md)",
    ]
    missing = [line for line in expected if f"- {line}" not in output]
    assert not missing, f"not reported: {missing}\n\n{output}"
    assert f"The inventory breaks its contract in {len(expected)} place(s)" in output
    # Preflight stops the run before any layer: no later play started.
    assert "Compute layer" not in output
    # Secret values from the vault never reach the output.
    assert "example-" not in output.replace("example.com", "")


def test_lab_main_job_without_a_cluster_stops_at_the_first_cluster_layer_naming_the_kubeconfig(
    playbook, lab_secrets, tmp_path
):
    """Preflight passes, the compute layer leaves the simulated hosts alone, and the first cluster
    layer stops with one message that says which layer and which kubeconfig, not the client's own."""
    kubeconfig = tmp_path / "no-cluster-here"
    result = playbook("playbooks/site.yml", "-i", "inventories/lab", env={"K8S_AUTH_KUBECONFIG": str(kubeconfig)})
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "SKIPPED layer compute:" in output
    assert f"tenancy layer, platform-tenancy: cannot reach the Kubernetes API with kubeconfig {kubeconfig}" in output
    assert "Storage layer" not in output  # nothing ran after the failure


def failed_preflight(playbook, vault_password, inventory) -> str:
    """playbooks/preflight.yml on inventory, which must fail; its whole output."""
    result = playbook("playbooks/preflight.yml", "-i", inventory, "--vault-password-file", vault_password)
    assert result.returncode != 0, result.stdout
    return result.stdout + result.stderr


def test_host_vars_files_override_inline_addresses(playbook, vault_password, example_inventory):
    host_vars = example_inventory / "host_vars"
    host_vars.mkdir()
    (host_vars / "cpu-03.dc1.example.com.yml").write_text("---\nansible_host: 10.20.0.21\n")

    output = failed_preflight(playbook, vault_password, example_inventory)
    assert (
        "- ansible_host: '10.20.0.21' is used by 2 hosts (cpu-01.dc1.example.com, cpu-03.dc1.example.com); "
        "expected unique addresses"
    ) in output
    assert "The inventory breaks its contract in 1 place(s)" in output


def test_gpu_class_set_by_a_group_is_read(playbook, vault_password, example_inventory):
    def hosts(data):
        gpu_nodes = data["all"]["children"]["k8s_cluster"]["children"]["gpu_nodes"]
        del gpu_nodes["hosts"]["l4-02.dc1.example.com"]
        gpu_nodes["children"] = {"l4_pool": {"hosts": {"l4-02.dc1.example.com": {"ansible_host": "10.20.0.42"}}}}

    edit(example_inventory / "hosts.yml", hosts)
    (example_inventory / "group_vars" / "l4_pool.yml").write_text("---\ngpu_node_class: l4-mystery\n")

    output = failed_preflight(playbook, vault_password, example_inventory)
    assert (
        "- hostvars[l4-02.dc1.example.com].gpu_node_class: 'l4-mystery' is not defined in gpu_node_classes; "
        "expected one of a100-training, a100-inference-mig, l4-inference"
    ) in output
    assert "The inventory breaks its contract in 1 place(s)" in output


def cluster_hosts(data):
    """Every host of k8s_cluster's child groups in the example hosts.yml: {name: inline variables}."""
    children = data["all"]["children"]["k8s_cluster"]["children"]
    return {name: values for group in children.values() for name, values in group["hosts"].items()}


def both_ways(playbook, *args):
    """The preflight play run as it runs by default and with the full per-host merge forced."""
    return [playbook(*args), playbook(*args, env={FULL_MERGE_ENV: "1"})]


def test_node_ip_templated_from_a_management_address_is_checked_not_ansible_host(
    playbook, vault_password, example_inventory
):
    """Hosts reached on a management network; a group template puts node_ip on the node network."""

    def management(data):
        for values in cluster_hosts(data).values():
            values["ansible_host"] = "192.168.100." + values["ansible_host"].rsplit(".", 1)[1]

    edit(example_inventory / "hosts.yml", management)
    node_ip = example_inventory / "group_vars" / "k8s_cluster.yml"
    node_ip.write_text("---\nnode_ip: \"10.20.0.{{ ansible_host.split('.')[-1] }}\"\n")
    args = ("playbooks/preflight.yml", "-i", example_inventory, "--vault-password-file", vault_password)
    for result in both_ways(playbook, *args):
        assert result.returncode == 0, result.stdout + result.stderr
        assert "failed=0" in result.stdout

    # The templated value is what preflight checks: off the node network, it is named.
    node_ip.write_text("---\nnode_ip: \"10.30.0.{{ ansible_host.split('.')[-1] }}\"\n")
    for result in both_ways(playbook, *args):
        output = result.stdout + result.stderr
        assert result.returncode != 0
        assert (
            "- hostvars[cp-01.dc1.example.com].node_ip: '10.30.0.11' is outside platform_node_network '10.20.0.0/24'; "
            "expected every host address on the node network"
        ) in output
        assert "The inventory breaks its contract in 14 place(s)" in output, output
        assert "192.168.100." not in output


def test_one_node_ip_for_every_worker_is_a_duplicate(playbook, vault_password, example_inventory):
    (example_inventory / "group_vars" / "workers.yml").write_text("---\nnode_ip: 10.20.0.99\n")
    args = ("playbooks/preflight.yml", "-i", example_inventory, "--vault-password-file", vault_password)
    for result in both_ways(playbook, *args):
        output = result.stdout + result.stderr
        assert result.returncode != 0
        assert (
            "- node_ip: '10.20.0.99' is used by 6 hosts (stor-01.dc1.example.com, stor-02.dc1.example.com, "
            "stor-03.dc1.example.com, cpu-01.dc1.example.com, cpu-02.dc1.example.com, cpu-03.dc1.example.com); "
            "expected unique addresses"
        ) in output, output
        assert "The inventory breaks its contract in 1 place(s)" in output


def test_a_bad_gpu_node_taint_is_reported_field_by_field(playbook, vault_password, example_inventory):
    def gpu(data):
        data["gpu_node_taint"] = {"key": "nvidia.com/gpu class", "value": "present", "effect": "NoRun"}

    edit(example_inventory / "group_vars" / "all" / "gpu.yml", gpu)

    output = failed_preflight(playbook, vault_password, example_inventory)
    for line in (
        "gpu_node_taint.key: 'nvidia.com/gpu class' is not a qualified name; expected a Kubernetes qualified "
        "name: an optional DNS subdomain prefix and '/', then at most 63 letters, digits, '-', '_' or '.', "
        "starting and ending with a letter or digit",
        "gpu_node_taint.effect: 'NoRun' is not a taint effect; expected one of NoSchedule, PreferNoSchedule, NoExecute",
    ):
        assert f"- {line}" in output, output
    assert "The inventory breaks its contract in 2 place(s)" in output


def test_gpu_nodes_need_a_gpu_node_taint(playbook, vault_password, example_inventory):
    edit(example_inventory / "group_vars" / "all" / "gpu.yml", lambda data: data.pop("gpu_node_taint"))

    output = failed_preflight(playbook, vault_password, example_inventory)
    assert (
        "- gpu_node_taint: is not defined; expected the taint of the gpu_nodes, a mapping with key, value and "
        "effect, such as nvidia.com/gpu, present, NoSchedule"
    ) in output
    assert "The inventory breaks its contract in 1 place(s)" in output

# Copyright: contributors to baremetal.mlops
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What playbooks/reset.yml removes, decided from what the cluster and the hosts report.

Cluster layers: the Helm releases of the layer's charts (the chart names the
layer's roles hand to release_delivery), the delivery records that name only
those releases, and the namespaces that held them once nothing else of the
platform is left in them. CRDs stay unless asked: a release that installs
CRDs as templates (Helm deletes those on uninstall, and every custom resource
with them) is kept whole, and says so.

Hosts: the iptables chains Kubernetes and Cilium create (KUBE-*, CILIUM_*) and
the rules of other chains that jump to them; nothing else of the firewall is
touched, no table is flushed, no policy changed.
"""

from __future__ import annotations

import json
import re
import shlex

import yaml

# Chains the kubelet, kube-proxy and Cilium create in iptables.
CHAIN_PREFIXES = ("KUBE-", "CILIUM_")
# Namespaces a reset never deletes, whatever released into them.
SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")

_CHART_VERSION = re.compile(r"^(?P<chart>.+?)-(?P<version>v?\d+\.\d+.*)$")
_KEEP_POLICY = "helm.sh/resource-policy"


class ResetError(Exception):
    """Input that is not what the reset expects (a Helm listing, an iptables-save dump)."""


def is_kubernetes_chain(name: str) -> bool:
    return name.startswith(CHAIN_PREFIXES)


def parse_iptables_save(text: str) -> dict:
    """`iptables-save` output -> {table: {"chains": [user and built-in chains], "rules": [rule lines]}}."""
    tables: dict = {}
    current = None
    for raw in (text or "").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("*"):
            current = line[1:]
            tables[current] = {"chains": [], "rules": []}
        elif line == "COMMIT":
            current = None
        elif current is None:
            raise ResetError(f"not iptables-save output: {raw!r} outside a table")
        elif line.startswith(":"):
            tables[current]["chains"].append(line[1:].split()[0])
        elif line.startswith("-A "):
            tables[current]["rules"].append(line)
        else:
            raise ResetError(f"not iptables-save output: {raw!r}")
    return tables


def _rule_parts(rule: str) -> tuple[str, str | None]:
    """A `-A CHAIN ...` line -> (chain, jump or goto target or None)."""
    try:
        words = shlex.split(rule)
    except ValueError as exc:
        raise ResetError(f"cannot read the rule {rule!r}: {exc}") from exc
    target = None
    for index, word in enumerate(words[:-1]):
        if word in ("-j", "--jump", "-g", "--goto"):
            target = words[index + 1]
    return words[1], target


def kubernetes_chains(text: str) -> dict:
    """{table: [KUBE-*/CILIUM_* chains]} of an iptables-save dump, tables without any left out."""
    found = {}
    for table, content in parse_iptables_save(text).items():
        chains = [chain for chain in content["chains"] if is_kubernetes_chain(chain)]
        if chains:
            found[table] = chains
    return found


def iptables_cleanup(text: str) -> str:
    """An `iptables-restore --noflush` script removing the Kubernetes and Cilium chains, or "" when none.

    Per table: delete the rules of other chains that jump to them, flush them
    (they jump to each other), then delete them. Each table commits at once;
    the other chains, their rules and every policy stay as they are.
    """
    lines = []
    for table, content in parse_iptables_save(text).items():
        chains = [chain for chain in content["chains"] if is_kubernetes_chain(chain)]
        if not chains:
            continue
        lines.append(f"*{table}")
        for rule in content["rules"]:
            chain, target = _rule_parts(rule)
            if not is_kubernetes_chain(chain) and target is not None and is_kubernetes_chain(target):
                lines.append("-D" + rule[2:])
        lines.extend(f"-F {chain}" for chain in chains)
        lines.extend(f"-X {chain}" for chain in chains)
        lines.append("COMMIT")
    return "\n".join(lines) + "\n" if lines else ""


def chart_of(helm_chart: str) -> tuple[str, str]:
    """Helm's `chart` column ("kserve-resources-v0.20.0") -> (chart, version)."""
    match = _CHART_VERSION.match(helm_chart or "")
    if not match:
        return helm_chart or "", ""
    return match.group("chart"), match.group("version")


def manifest_crds(manifest: str) -> dict:
    """CRDs a release's stored manifest (`helm get manifest`) holds -> {"removed": [...], "kept": [...]}.

    "kept": Helm keeps them on uninstall (helm.sh/resource-policy: keep);
    "removed": uninstalling the release deletes them and every object of their kinds.
    """
    found = {"removed": [], "kept": []}
    try:
        documents = list(yaml.safe_load_all(manifest or ""))
    except yaml.YAMLError as exc:
        raise ResetError(f"cannot read a release manifest: {exc}") from exc
    for document in documents:
        if not isinstance(document, dict) or document.get("kind") != "CustomResourceDefinition":
            continue
        metadata = document.get("metadata") or {}
        policy = (metadata.get("annotations") or {}).get(_KEEP_POLICY, "")
        found["kept" if policy == "keep" else "removed"].append(str(metadata.get("name", "")))
    return {key: sorted(names) for key, names in found.items()}


def _record_releases(configmap: dict) -> set:
    names = set()
    for value in ((configmap or {}).get("data") or {}).values():
        try:
            entry = json.loads(value)
            names.add(f"{entry['namespace']}/{entry['name']}")
        except (ValueError, KeyError, TypeError):
            continue
    return names


def cluster_plan(inputs: dict) -> dict:
    """What resetting cluster layers removes and keeps, and why.

    inputs:
      layers: the layers to reset, in the order to reset them;
      charts: {layer: [chart, ...]} the charts each layer's roles install, in install order;
      helm: `helm list --all-namespaces --all --output json` (parsed);
      manifests: {"namespace/name": `helm get manifest` output} of the releases found;
      records: the delivery record ConfigMaps (k8s_info resources);
      namespaces: names of the namespaces that exist;
      protected_namespaces: namespaces never deleted (teams', the record's);
      keep_releases: "namespace/name" of releases to leave alone;
      remove_crds: uninstall releases that hold CRDs as templates too.
    """
    try:
        layers = list(inputs["layers"])
        charts = {layer: list(names) for layer, names in (inputs.get("charts") or {}).items()}
        listing = list(inputs.get("helm") or [])
    except (KeyError, TypeError) as exc:
        raise ResetError(f"cluster_plan needs layers, charts and helm: {exc}") from exc
    manifests = inputs.get("manifests") or {}
    keep_requested = set(inputs.get("keep_releases") or [])
    remove_crds = bool(inputs.get("remove_crds"))
    protected = set(SYSTEM_NAMESPACES) | set(inputs.get("protected_namespaces") or [])
    existing = set(inputs.get("namespaces") or [])

    rows = []
    for entry in listing:
        try:
            chart, version = chart_of(str(entry["chart"]))
            rows.append(
                {
                    "name": str(entry["name"]),
                    "namespace": str(entry["namespace"]),
                    "chart": chart,
                    "version": version,
                    "status": str(entry.get("status", "")),
                }
            )
        except (KeyError, TypeError) as exc:
            raise ResetError(f"not an entry of helm list --output json: {entry!r} ({exc})") from exc

    remove, keep, crds_removed, crds_kept = [], [], [], []
    per_layer = []
    for layer in layers:
        layer_charts = charts.get(layer, [])
        # reverse install order inside the layer too: the last chart a layer installs goes first
        found = [row for chart in reversed(layer_charts) for row in rows if row["chart"] == chart]
        layer_remove = []
        for row in found:
            release = f"{row['namespace']}/{row['name']}"
            crds = manifest_crds(manifests.get(release, ""))
            item = {**row, "layer": layer, "crds_in_templates": crds["removed"], "crds_kept_by_helm": crds["kept"]}
            crds_kept.extend(crds["kept"])
            if release in keep_requested:
                keep.append({**item, "reason": "named in platform_reset_keep_releases"})
            elif crds["removed"] and not remove_crds:
                keep.append(
                    {
                        **item,
                        "reason": "installs CRDs as templates; uninstalling it deletes them and every object of "
                        "their kinds (platform_reset_remove_crds=true removes it)",
                    }
                )
                crds_kept.extend(crds["removed"])
            else:
                layer_remove.append(item)
                crds_removed.extend(crds["removed"])
        remove.extend(layer_remove)
        per_layer.append({"layer": layer, "charts": layer_charts, "remove": layer_remove})

    removed_keys = {f"{r['namespace']}/{r['name']}" for r in remove}
    remaining = [row for row in rows if f"{row['namespace']}/{row['name']}" not in removed_keys]
    namespaces, namespaces_kept = [], []
    for namespace in sorted({r["namespace"] for r in remove}):
        others = sorted(f"{row['namespace']}/{row['name']}" for row in remaining if row["namespace"] == namespace)
        if namespace in protected:
            namespaces_kept.append({"name": namespace, "reason": "a system, team or record namespace"})
        elif others:
            namespaces_kept.append({"name": namespace, "reason": "still holds " + ", ".join(others)})
        elif namespace in existing:
            namespaces.append(namespace)

    records = []
    for configmap in inputs.get("records") or []:
        named = _record_releases(configmap)
        if named and named <= removed_keys:
            records.append(str(((configmap or {}).get("metadata") or {}).get("name", "")))

    return {
        "layers": per_layer,
        "remove": remove,
        "keep": keep,
        "records": sorted(records),
        "namespaces": namespaces,
        "namespaces_kept": namespaces_kept,
        "crds_removed": sorted(set(crds_removed)),
        "crds_kept": sorted(set(crds_kept)),
    }

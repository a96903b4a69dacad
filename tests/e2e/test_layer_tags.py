"""`--tags <layer>` runs preflight and that layer only; role and feature tags still work.

The layers, their playbooks and plays are read from playbooks/site.yml, the
roles and their feature tags from the layer playbooks and the roles' task
files. Each case is checked twice: by structure (`--list-tasks`) and by
behaviour (a real run recorded task by task by a small callback).
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
PLAYBOOKS = ROOT / "playbooks"

RECORDER = '''
import json
import os

from ansible.plugins.callback import CallbackBase


class CallbackModule(CallbackBase):
    """Append one JSON line per task result: play, role, task, host, status."""

    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "record_results"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super().__init__()
        self._play = None

    def v2_playbook_on_play_start(self, play):
        self._play = play.get_name()

    def _record(self, result, status):
        task = result.task
        event = {
            "play": self._play,
            "role": task._role.get_name() if task._role else None,
            "task": task.name,
            "action": task.action,
            "host": result.host.get_name(),
            "status": status,
        }
        with open(os.environ["RECORD_RESULTS_FILE"], "a", encoding="utf-8") as stream:
            stream.write(json.dumps(event) + "\\n")

    def v2_runner_on_ok(self, result):
        self._record(result, "ok")

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._record(result, "failed")

    def v2_runner_on_skipped(self, result):
        self._record(result, "skipped")

    def v2_runner_on_unreachable(self, result):
        self._record(result, "unreachable")
'''


# --- what site.yml and the layer playbooks say ------------------------------


def _tags(value) -> set[str]:
    if value is None:
        return set()
    return {value} if isinstance(value, str) else set(value)


def _imports() -> list[tuple[set[str], Path]]:
    site = yaml.safe_load((PLAYBOOKS / "site.yml").read_text())
    entries = []
    for entry in site:
        target = entry.get("ansible.builtin.import_playbook") or entry.get("import_playbook")
        assert target, f"site.yml should only import layer playbooks, found {entry}"
        entries.append((_tags(entry.get("tags")), PLAYBOOKS / target))
    return entries


def _plays(playbook: Path) -> list[dict]:
    return yaml.safe_load(playbook.read_text())


def _preflight_playbook() -> Path:
    """The import whose plays carry `always`: it runs before every layer."""
    found = [path for tags, path in _imports() if any("always" in _tags(p.get("tags")) for p in _plays(path))]
    assert len(found) == 1, f"expected one preflight playbook tagged always in site.yml, found {found}"
    return found[0]


LAYERS: dict[str, Path] = {}
for _layer_tags, _path in _imports():
    if _path != _preflight_playbook():
        assert len(_layer_tags) == 1, f"{_path.name} should carry exactly its layer's tag in site.yml"
        LAYERS[next(iter(_layer_tags))] = _path
PREFLIGHT_TAG = next(iter(_tags(_plays(_preflight_playbook())[0].get("tags")) - {"always"}))


def _play_names(playbook: Path) -> set[str]:
    return {play["name"] for play in _plays(playbook)}


def _reaches_hosts(playbook: Path) -> bool:
    return any(play["hosts"] != "localhost" for play in _plays(playbook))


def _role_includes() -> dict[str, tuple[Path, set[str]]]:
    """Every role a layer playbook includes: name -> (layer playbook, tags on the include)."""
    includes = {}
    for playbook in LAYERS.values():
        for play in _plays(playbook):
            assert "roles" not in play, (
                f"{playbook.name}: '{play['name']}' imports roles statically; Ansible tags their argument "
                "check `always`, so it would run in every other layer's run. Include them instead."
            )
            for task in play.get("pre_tasks", []) + play.get("tasks", []):
                for key in ("ansible.builtin.include_role", "ansible.builtin.import_role"):
                    if key in task:
                        assert key.endswith("include_role"), (
                            f"{playbook.name}: import_role runs its argument check always"
                        )
                        name = task[key]["name"].split(".")[-1]
                        includes[name] = (playbook, _tags(task.get("tags")))
    return includes


def _role_tasks(role: str):
    """(file, task) for every task and block of a role's task files, nested blocks included."""

    def walk(tasks, source):
        for task in tasks or []:
            yield source, task
            for key in ("block", "rescue", "always"):
                yield from walk(task.get(key), source)

    for path in sorted((ROOT / "roles" / role / "tasks").glob("*.yml")):
        yield from walk(yaml.safe_load(path.read_text()), path)


def _feature_tags(role: str) -> set[str]:
    """Every tag the role's tasks carry, on tasks, blocks and the `apply` of dynamic includes."""
    tags = set()
    for _, task in _role_tasks(role):
        tags |= _tags(task.get("tags"))
        include = task.get("ansible.builtin.include_tasks")
        apply = (include if isinstance(include, dict) else task.get("args", {})).get("apply", {})
        tags |= _tags(apply.get("tags"))
    return tags


def _vars_loading_tags(role: str) -> list[set[str]]:
    """The tags each `include_vars` of the role's main entry point runs under (blocks, imports followed)."""

    def walk(tasks, inherited, folder):
        for task in tasks or []:
            tags = inherited | _tags(task.get("tags"))
            if "ansible.builtin.include_vars" in task:
                yield tags
            imported = task.get("ansible.builtin.import_tasks")
            if imported:
                yield from walk(yaml.safe_load((folder / imported).read_text()), tags, folder)
            yield from walk(task.get("block"), tags, folder)

    folder = ROOT / "roles" / role / "tasks"
    return list(walk(yaml.safe_load((folder / "main.yml").read_text()), set(), folder))


def _feature_task_names(role: str, tag: str) -> set[str]:
    """Names of the tasks a feature tag selects in the role's main.yml (imported files followed)."""
    names = set()
    for task in yaml.safe_load((ROOT / "roles" / role / "tasks" / "main.yml").read_text()):
        if tag not in _tags(task.get("tags")):
            continue
        imported = task.get("ansible.builtin.import_tasks")
        if imported:
            names |= {t["name"] for t in yaml.safe_load((ROOT / "roles" / role / "tasks" / imported).read_text())}
        elif "block" not in task:
            names.add(task["name"])
    return names


# --- running ansible-playbook ------------------------------------------------


@pytest.fixture(scope="module")
def recorder(tmp_path_factory):
    """run(playbook, tmp_path, *args, env=None) -> (CompletedProcess, [task result events])."""
    plugins = tmp_path_factory.mktemp("callbacks")
    (plugins / "record_results.py").write_text(RECORDER)

    def run(playbook, tmp_path, *args, env=None):
        record = tmp_path / "results.jsonl"
        record.unlink(missing_ok=True)
        environment = {
            "ANSIBLE_CALLBACK_PLUGINS": str(plugins),
            "ANSIBLE_CALLBACKS_ENABLED": "record_results",
            "RECORD_RESULTS_FILE": str(record),
            # The example's hosts do not exist: fail fast on them.
            "ANSIBLE_TIMEOUT": "3",
            **(env or {}),
        }
        result = playbook(*args, env=environment)
        events = [json.loads(line) for line in record.read_text().splitlines()] if record.exists() else []
        return result, events

    return run


def list_tasks(playbook, *args) -> dict[str, list[tuple[str, set[str]]]]:
    """`--list-tasks` as {play name: [(task name, tags)]}."""
    result = playbook(*args, "--list-tasks")
    assert result.returncode == 0, result.stdout + result.stderr
    plays: dict[str, list[tuple[str, set[str]]]] = {}
    current = None
    for line in result.stdout.splitlines():
        play = re.match(r"^\s+play #\d+ \([^)]*\): (.*?)\tTAGS: \[.*\]$", line)
        task = re.match(r"^\s{6}(\S.*?)\tTAGS: \[(.*)\]$", line)
        if play:
            current = play.group(1)
            plays[current] = []
        elif task and current is not None:
            plays[current].append((task.group(1), {t.strip() for t in task.group(2).split(",") if t.strip()}))
    assert plays, result.stdout
    return plays


EXAMPLE = ("-i", "inventories/example")


def _delivers_releases(playbook_path: Path) -> bool:
    """A cluster layer: its plays run on the controller and include roles (which deliver releases)."""
    plays = yaml.safe_load(playbook_path.read_text())
    return all(p.get("hosts") == "localhost" for p in plays) and "include_role" in playbook_path.read_text()


def list_hosts(playbook, *args) -> set[str]:
    """Every host `--list-hosts` matches in any play of a playbook."""
    result = playbook(*args, "--list-hosts")
    assert result.returncode == 0, result.stdout + result.stderr
    return {m.group(1) for m in re.finditer(r"^ {6}(\S+)$", result.stdout, re.MULTILINE)}


def tail(text: str, size: int = 6000) -> str:
    """The end of a run's output, enough to read a failure without flooding the report."""
    return text[-size:]


def test_site_yml_names_layers_to_check():
    assert PREFLIGHT_TAG == "preflight"
    assert "compute" in LAYERS and "networking" in LAYERS, LAYERS


def test_layer_roles_carry_no_always_task():
    for role in _role_includes():
        tagged_always = [
            f"{path.name}: {task.get('name')}"
            for path, task in _role_tasks(role)
            if "always" in _tags(task.get("tags"))
        ]
        assert not tagged_always, f"{role} runs these in every layer's run: {tagged_always}"


def test_each_role_include_selects_the_role_and_all_its_feature_tags():
    includes = _role_includes()
    assert includes, "no layer playbook includes a role"
    for role, (playbook, tags) in includes.items():
        assert tags == {role} | _feature_tags(role), (
            f"{playbook.name}: the include of {role} is tagged {sorted(tags)}; a feature tag missing there "
            f"selects nothing. Expected {sorted({role} | _feature_tags(role))}."
        )


def test_every_feature_tag_loads_the_role_vars_first():
    for role in _role_includes():
        loading = _vars_loading_tags(role)
        per_distribution = [f for f in (ROOT / "roles" / role / "vars").glob("*.yml") if f.name != "main.yml"]
        assert loading or not per_distribution, f"{role} has {per_distribution} but its main.yml never loads them"
        for tags in loading:
            # No tags: the task runs whenever the role does (a role with no feature tags).
            assert not tags or tags >= _feature_tags(role), (
                f"{role}: its variables load under {sorted(tags)} only; --tags "
                f"{sorted(_feature_tags(role) - tags)} would run without them"
            )


@pytest.mark.parametrize("layer", sorted(LAYERS))
def test_layer_tag_lists_only_preflight_and_the_layer(playbook, vault_password, layer):
    plays = list_tasks(
        playbook, "playbooks/site.yml", *EXAMPLE, "--vault-password-file", vault_password, "--tags", layer
    )
    expected = _play_names(_preflight_playbook()) | _play_names(LAYERS[layer])
    listed = {name for name, tasks in plays.items() if tasks}
    assert listed == expected, f"--tags {layer} lists tasks in {sorted(listed)}; expected {sorted(expected)}"
    for name in listed:
        for task, tags in plays[name]:
            assert tags & {PREFLIGHT_TAG, layer}, f"{name}: '{task}' {sorted(tags)} runs under --tags {layer}"


@pytest.mark.parametrize("layer", sorted(LAYERS))
def test_layer_tag_runs_only_preflight_and_the_layer(
    playbook, recorder, vault_password, tmp_path, layer, offline_charts
):
    extra, env = [], None
    if _delivers_releases(LAYERS[layer]):
        # the example delivers through GitOps: a tree to write, charts without a network
        extra, env = offline_charts
        extra = [*extra, "-e", f"platform_gitops_dir={tmp_path / 'gitops'}"]
    result, events = recorder(
        playbook,
        tmp_path,
        "playbooks/site.yml",
        *EXAMPLE,
        "--vault-password-file",
        vault_password,
        "--tags",
        layer,
        *extra,
        env=env,
    )
    output = tail(result.stdout + result.stderr)
    allowed = _play_names(_preflight_playbook()) | _play_names(LAYERS[layer])
    strays = [e for e in events if e["play"] not in allowed]
    assert not strays, f"--tags {layer} ran tasks of other layers ({len(strays)}), first: {strays[:5]}\n{output}"
    assert {e["play"] for e in events} >= _play_names(_preflight_playbook()), output
    failed = [e for e in events if e["status"] == "failed"]
    assert not failed, f"--tags {layer}: {len(failed)} task results failed, first: {failed[:5]}\n{output}"
    remote = {e["host"] for e in events} - {"localhost"}
    if _reaches_hosts(LAYERS[layer]):
        # The example's hosts are unreachable: the layer stops there, on every host it targets, and at
        # nothing else (no variable or fact error before the connection).
        targets = list_hosts(playbook, LAYERS[layer], *EXAMPLE, "--vault-password-file", vault_password)
        assert result.returncode == 4, output
        unreachable = {e["host"] for e in events if e["status"] == "unreachable"}
        assert unreachable == remote == targets - {"localhost"}, output
        full = result.stdout + result.stderr
        assert "has no attribute" not in full and "is undefined" not in full, output
    else:
        assert result.returncode == 0, output
        assert not remote, f"--tags {layer} touched hosts {sorted(remote)}\n{output}"
        if "layer-pending.yml" in LAYERS[layer].read_text():
            assert f"SKIPPED layer {layer}:" in result.stdout


def _load_bench_generator():
    spec = importlib.util.spec_from_file_location("bench_preflight", ROOT / "tests" / "bench" / "bench_preflight.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def large_inventory(tmp_path_factory):
    """The benchmark's generated 2,000-node inventory (valid, no vault)."""
    bench = _load_bench_generator()
    bench.NODES = 2000
    target = tmp_path_factory.mktemp("large") / "inventory"
    bench.generate(target)
    return target


@pytest.mark.parametrize("inventory", ["example", "large"])
def test_preflight_tag_on_a_valid_inventory_exits_0(
    playbook, recorder, vault_password, large_inventory, tmp_path, inventory
):
    args = (*EXAMPLE, "--vault-password-file", vault_password) if inventory == "example" else ("-i", large_inventory)
    result, events = recorder(playbook, tmp_path, "playbooks/site.yml", *args, "--tags", PREFLIGHT_TAG)
    output = tail(result.stdout + result.stderr)
    assert result.returncode == 0, output
    assert {e["play"] for e in events} == _play_names(_preflight_playbook()), events[:10]
    assert {e["host"] for e in events} == {"localhost"}, events[:10]
    assert {e["status"] for e in events} == {"ok"}, events[:10]


# --- role and feature tags ---------------------------------------------------


@pytest.fixture
def local_node(tmp_path):
    """An inventory whose one cluster node is this machine, reached without SSH (runs stay in check mode)."""
    inventory = tmp_path / "local"
    inventory.mkdir()
    (inventory / "hosts.yml").write_text(
        textwrap.dedent(
            f"""\
            ---
            all:
              children:
                k8s_cluster:
                  children:
                    control_plane:
                      hosts:
                        node-local:
                          ansible_connection: local
                          ansible_python_interpreter: {sys.executable}
                          # check mode reads, never writes: no privileges needed
                          ansible_become: false
                          platform_hosts_simulated: false
                          # this machine boots cgroup v1 (hybrid); the refusal without this
                          # opt-in is tested in molecule/host_prep
                          platform_cgroup_v1_allowed: true
            """
        )
    )
    return inventory


@pytest.fixture(scope="module")
def local_distribution() -> tuple[str, str]:
    """This machine's distribution and major version, as Ansible's facts name them."""
    completed = subprocess.run(
        [
            *(Path(sys.executable).parent / "ansible", "localhost", "-c", "local", "-o"),
            *("-m", "ansible.builtin.setup", "-a", "gather_subset=!all,!min,distribution"),
        ],
        cwd=ROOT,
        env={**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg")},
        capture_output=True,
        text=True,
        check=True,
    )
    facts = json.loads(completed.stdout[completed.stdout.index("{") :])["ansible_facts"]
    return facts["ansible_distribution"], facts["ansible_distribution_major_version"]


@pytest.mark.parametrize(("role", "tag"), [("host_prep", "host_prep_sysctl"), ("containerd", "containerd_config")])
def test_feature_tag_loads_the_role_vars_and_runs_the_feature(
    playbook, recorder, local_node, local_distribution, tmp_path, role, tag
):
    result, events = recorder(playbook, tmp_path, "playbooks/compute.yml", "-i", local_node, "--check", "--tags", tag)
    output = tail(result.stdout + result.stderr)
    role_fqcn = f"baremetal.mlops.{role}"
    ran = [e for e in events if e["role"] is not None]
    assert ran, output
    strays = [e for e in ran if e["role"] != role_fqcn]
    assert not strays, f"--tags {tag} ran other roles: {strays[:5]}"
    by_task = {e["task"]: e for e in ran}
    # The play's fact gathering runs under `compute` only: the role gathered what it reads itself.
    assert by_task["Gather the facts the role reads when the play has not"]["status"] == "ok", output
    supported = yaml.safe_load((ROOT / "roles" / role / "vars" / "main.yml").read_text())[
        f"__{role}_supported_distributions"
    ]
    facts = local_distribution
    if facts[0] in supported and facts[1] in supported[facts[0]]:
        assert result.returncode == 0, output
        assert by_task["Load the distribution's variables"]["status"] == "ok", output
        order = [e["task"] for e in ran]
        features = _feature_task_names(role, tag)
        assert features, f"{tag} selects no task in {role}"
        assert features <= set(order), f"--tags {tag} did not reach {sorted(features - set(order))}\n{output}"
        first_feature = min(order.index(name) for name in features)
        assert order.index("Load the distribution's variables") < first_feature
        assert not [e for e in events if e["status"] == "failed"], output
    else:
        # Not a distribution the role supports: its own check says so, with the facts it gathered.
        assert result.returncode != 0, output
        assert by_task["Check that the host runs a supported distribution"]["status"] == "failed", output
        assert f"runs {facts[0]} {facts[1]}" in output, output


@pytest.mark.parametrize(
    "tag", ["compute", "host_prep", "host_prep_sysctl", "containerd_config", "kubeadm", "bgp_router"]
)
def test_simulated_hosts_are_left_alone_under_every_compute_tag(
    playbook, recorder, vault_password, example_inventory, tmp_path, tag
):
    (example_inventory / "group_vars" / "all" / "simulated.yml").write_text("---\nplatform_hosts_simulated: true\n")
    result, events = recorder(
        playbook,
        tmp_path,
        "playbooks/site.yml",
        "-i",
        example_inventory,
        "--vault-password-file",
        vault_password,
        "--tags",
        tag,
    )
    output = tail(result.stdout + result.stderr)
    # The example's hosts are unreachable: exit 0 means no task connected to one.
    assert result.returncode == 0, output
    remote = [e for e in events if e["host"] != "localhost"]
    assert {e["status"] for e in remote} <= {"ok", "skipped"}, remote[:10]
    # Only controller-side steps ran for them: the include, its argument check, the skip.
    controller_side = {"ansible.builtin.include_role", "ansible.builtin.validate_argument_spec", "ansible.builtin.meta"}
    assert {e["action"] for e in remote} <= controller_side, remote[:10]
    if tag == "compute":
        assert "SKIPPED layer compute:" in result.stdout, output

"""README's "What ships today" table agrees with what playbooks/site.yml does.

A layer whose playbook includes tasks/layer-pending.yml prints SKIPPED for the
roles it does not ship yet; the README must list exactly those layers as
planned, and no shipped row may name a layer that ships none of its roles.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def layer_tasks() -> dict[str, list[dict]]:
    """playbook name -> the tasks of its plays, for every playbook site.yml imports."""
    site = yaml.safe_load((ROOT / "playbooks" / "site.yml").read_text())
    found = {}
    for entry in site:
        playbook = entry.get("ansible.builtin.import_playbook") or entry.get("import_playbook")
        if playbook:
            plays = yaml.safe_load((ROOT / "playbooks" / playbook).read_text())
            found[playbook] = [task for play in plays for task in play.get("tasks", [])]
    return found


def _pending(task: dict) -> bool:
    return str(task.get("ansible.builtin.include_tasks", "")).endswith("layer-pending.yml")


def pending_layers() -> set[str]:
    """Layers with roles still pending (they print SKIPPED for those)."""
    return {t["vars"]["pending_layer"].lower() for tasks in layer_tasks().values() for t in tasks if _pending(t)}


def wholly_pending_layers() -> set[str]:
    """Pending layers that ship none of their roles yet."""
    return {
        t["vars"]["pending_layer"].lower()
        for tasks in layer_tasks().values()
        if not any("ansible.builtin.include_role" in task for task in tasks)
        for t in tasks
        if _pending(t)
    }


def readme_rows() -> list[tuple[str, str]]:
    text = (ROOT / "README.md").read_text()
    section = text[text.index("**What ships today") : text.index("## Two commands")]
    rows = []
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 2 and cells[0] not in ("layer", "---"):
            rows.append((cells[0].lower(), cells[1]))
    return rows


def named_layers(cell: str) -> set[str]:
    """Layer names in a row's first cell: '2 networking, 3 storage, observability' -> {...}."""
    return {re.sub(r"^\d+\s+", "", part.strip()).split(" (")[0].strip() for part in cell.split(",")}


def test_readme_lists_exactly_the_pending_layers_as_planned():
    planned = set()
    for layers, status in readme_rows():
        if "SKIPPED layer" in status:
            planned |= named_layers(layers)
    assert planned == pending_layers()


def test_no_shipped_row_names_a_layer_that_ships_nothing():
    for layers, status in readme_rows():
        if status.startswith("ships"):
            assert not named_layers(layers) & wholly_pending_layers(), (layers, status)

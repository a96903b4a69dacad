"""README's "What ships today" table agrees with what playbooks/site.yml does.

A layer whose playbook includes tasks/layer-pending.yml prints SKIPPED and
changes nothing; the README must list exactly those layers as planned, and
no shipped row may name one of them.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def pending_layers() -> set[str]:
    site = yaml.safe_load((ROOT / "playbooks" / "site.yml").read_text())
    pending = set()
    for entry in site:
        playbook = entry.get("ansible.builtin.import_playbook") or entry.get("import_playbook")
        if not playbook:
            continue
        for play in yaml.safe_load((ROOT / "playbooks" / playbook).read_text()):
            for task in play.get("tasks", []):
                if str(task.get("ansible.builtin.include_tasks", "")).endswith("layer-pending.yml"):
                    pending.add(task["vars"]["pending_layer"].lower())
    return pending


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


def test_site_yml_still_has_pending_layers_to_compare():
    assert pending_layers(), "no layer includes layer-pending.yml: update README's table and this test"


def test_readme_lists_exactly_the_pending_layers_as_planned():
    planned = set()
    for layers, status in readme_rows():
        if "SKIPPED layer" in status:
            planned |= named_layers(layers)
    assert planned == pending_layers()


def test_no_shipped_row_names_a_pending_layer():
    for layers, status in readme_rows():
        if status.startswith("ships"):
            assert not named_layers(layers) & pending_layers(), (layers, status)

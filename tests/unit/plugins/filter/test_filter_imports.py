"""Every task that uses one filter of the collection imports all its filter files, in a fresh task process.

Ansible finds a collection filter by loading each file of plugins/filter, and each task runs in a process
forked before any of them was imported: whatever those files import is paid again by every such task. They
must not pull in Ansible's HTTP code (ansible.module_utils.urls and, with it, cryptography and the email
package), which the modules need and the filters do not; a converged layers run has about forty such tasks.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[4]
HEAVY = ("ansible.module_utils.urls", "cryptography.x509", "email.mime", "http.client")


def test_the_filter_files_import_no_http_client():
    filters = sorted(p.stem for p in (ROOT / "plugins" / "filter").glob("*.py") if p.stem != "__init__")
    assert "backup_drill" in filters and "release_delivery" in filters
    program = (
        "import json, sys\n"
        # what a task process holds already: what ansible-playbook imported before it forked
        "import ansible.cli.playbook, ansible.executor.task_executor, ansible.template\n"
        "before = set(sys.modules)\n"
        + "".join(f"import ansible_collections.baremetal.mlops.plugins.filter.{name}\n" for name in filters)
        + "print(json.dumps(sorted(set(sys.modules) - before)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", program],
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT / "collections"), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    )
    imported = json.loads(result.stdout)
    heavy = [name for name in imported if name.startswith(HEAVY)]
    assert not heavy, f"the filter files import {heavy}"

"""Make `ansible_collections.baremetal.mlops` importable in tests.

The repo root is the collection; collections/ansible_collections/baremetal/mlops
links back to it, so putting collections/ on sys.path is enough.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COLLECTIONS = str(ROOT / "collections")
if COLLECTIONS not in sys.path:
    sys.path.insert(0, COLLECTIONS)

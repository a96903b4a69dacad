# Copyright: contributors to baremetal.mlops
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Plan and write a set of text files under one folder (the GitOps tree).

A caller owns some subfolders entirely: files there that it no longer
renders are removed. Files elsewhere in the tree are left alone.
"""

from __future__ import absolute_import, division, print_function

import os
import tempfile

__metaclass__ = type


class FileTreeError(Exception):
    """A path leaves the tree or cannot be written."""


def _inside(root, relative):
    path = os.path.normpath(os.path.join(root, relative))
    if os.path.isabs(relative) or not path.startswith(os.path.normpath(root) + os.sep):
        raise FileTreeError("%s is not a relative path inside %s" % (relative, root))
    return path


def _read(path):
    try:
        with open(path, "r", encoding="utf-8") as handle:
            return handle.read()
    except (IOError, OSError):
        return None


def plan_tree(root, files, owned):
    """(writes, removals): relative paths whose content differs, and stale files in the owned folders."""
    writes = []
    for relative in sorted(files):
        if _read(_inside(root, relative)) != files[relative]:
            writes.append(relative)
    removals = []
    for folder in sorted(owned):
        base = _inside(root, folder)
        for current, _dirs, names in os.walk(base):
            for name in names:
                relative = os.path.relpath(os.path.join(current, name), root)
                if relative not in files:
                    removals.append(relative)
    return writes, sorted(removals)


def apply_tree(root, files, writes, removals, mode):
    """Write the changed files atomically and remove the stale ones."""
    for relative in writes:
        path = _inside(root, relative)
        folder = os.path.dirname(path)
        try:
            if not os.path.isdir(folder):
                os.makedirs(folder, 0o755)
            handle, temporary = tempfile.mkstemp(dir=folder, prefix=".tmp-")
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                out.write(files[relative])
            os.chmod(temporary, mode)
            os.rename(temporary, path)
        except (IOError, OSError) as exc:
            raise FileTreeError("cannot write %s: %s" % (path, exc)) from exc
    for relative in removals:
        try:
            os.remove(_inside(root, relative))
        except (IOError, OSError) as exc:
            raise FileTreeError("cannot remove %s: %s" % (relative, exc)) from exc


def ensure_tree(root, files, owned, mode, check_mode, want_diff):
    """Make the tree hold `files`; returns the module result (changed, written, removed, diff)."""
    writes, removals = plan_tree(root, files, owned)
    result = {"changed": bool(writes or removals), "written": writes, "removed": removals}
    if want_diff:
        result["diff"] = [
            {
                "before_header": relative,
                "after_header": relative,
                "before": _read(_inside(root, relative)) or "",
                "after": files.get(relative, ""),
            }
            for relative in writes + removals
        ]
    if not check_mode:
        apply_tree(root, files, writes, removals, mode)
    return result

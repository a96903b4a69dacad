#!/usr/bin/python
# Copyright: contributors to baremetal.mlops
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

DOCUMENTATION = r"""
module: file_tree
short_description: Write a set of text files under a folder and remove stale ones
version_added: 0.1.0
description:
  - Makes the folder O(path) hold exactly the given files in the subfolders the caller owns
    (O(owned)). Each file is written when its content differs, files in an owned subfolder
    that are not given are removed, and files elsewhere are left alone.
  - The release_delivery role writes a component's part of the GitOps tree with it, in one call.
author:
  - baremetal.mlops maintainers (@baremetal-mlops)
attributes:
  check_mode:
    support: full
    description: Reports which files would be written or removed without touching them.
  diff_mode:
    support: full
    description: Shows each changed file's content before and after.
options:
  path:
    description: The folder (created when missing).
    type: path
    required: true
  files:
    description: Relative path to file content.
    type: dict
    required: true
  owned:
    description: Relative subfolders the caller owns; unlisted files there are removed.
    type: list
    elements: str
    default: []
  mode:
    description: Mode of written files.
    type: raw
    default: "0644"
"""

EXAMPLES = r"""
- name: Write a component's Applications and manifests
  baremetal.mlops.file_tree:
    path: /srv/git/platform-gitops
    files:
      apps/networking/metallb/metallb.yaml: "{{ application_yaml }}"
    owned:
      - apps/networking/metallb
"""

RETURN = r"""
written:
  description: Relative paths written (or that would be, in check mode).
  returned: always
  type: list
  elements: str
removed:
  description: Relative paths removed (or that would be, in check mode).
  returned: always
  type: list
  elements: str
"""

import traceback

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.baremetal.mlops.plugins.module_utils.file_tree import FileTreeError, ensure_tree


def run_module(module):
    params = module.params
    files = dict((str(key), str(value)) for key, value in params["files"].items())
    mode = params["mode"]
    mode = int(mode, 8) if isinstance(mode, str) else int(mode)
    return ensure_tree(params["path"], files, params["owned"], mode, module.check_mode, module._diff)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", required=True),
            files=dict(type="dict", required=True),
            owned=dict(type="list", elements="str", default=[]),
            mode=dict(type="raw", default="0644"),
        ),
        supports_check_mode=True,
    )
    try:
        result = run_module(module)
    except (FileTreeError, ValueError) as exc:
        module.fail_json(msg=str(exc), exception=traceback.format_exc())
    module.exit_json(**result)


if __name__ == "__main__":
    main()

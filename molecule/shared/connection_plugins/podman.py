"""The podman connection of containers.podman, with pipelining: the test harness's connection to host containers.

Test infrastructure only, not part of the collection. The Molecule scenarios on
podman host containers name it through ANSIBLE_CONNECTION_PLUGINS (their
molecule.yml), where it takes the place of the short name `podman` that
Molecule's podman driver writes into the inventory.

Without pipelining every module run costs three `podman exec` calls (make the
remote temporary folder, chmod the module, run it), each a conmon and runc
start; upstream leaves pipelining off because its `podman exec` passes no
standard input. Here the module reaches the container's Python on standard
input (`podman exec --interactive`), one exec per module run, as it does over
SSH on a real host with pipelining on. Files the copy and template actions send
still go through the container's mounted file system, as upstream does it.
"""

from __future__ import annotations

import shlex

from ansible.module_utils.common.text.converters import to_native
from ansible.plugins.connection import ConnectionBase, ensure_connect

from ansible_collections.containers.podman.plugins.connection.podman import Connection as PodmanConnection

DOCUMENTATION = """
    name: podman
    short_description: Run commands in a podman container, modules pipelined on standard input
    description:
      - The containers.podman.podman connection with pipelining supported (test harness of baremetal.mlops).
    extends_documentation_fragment:
      - connection_pipelining
    options:
      remote_addr:
        description: Name or ID of the container.
        default: inventory_hostname
        vars:
          - name: ansible_host
          - name: inventory_hostname
          - name: ansible_podman_host
      remote_user:
        description: User to run commands as inside the container.
        ini:
          - section: defaults
            key: remote_user
        env:
          - name: ANSIBLE_REMOTE_USER
        vars:
          - name: ansible_user
      podman_extra_args:
        description: Extra arguments for every podman command.
        default: ''
        ini:
          - section: defaults
            key: podman_extra_args
        vars:
          - name: ansible_podman_extra_args
        env:
          - name: ANSIBLE_PODMAN_EXTRA_ARGS
      podman_executable:
        description: The podman program.
        default: podman
        vars:
          - name: ansible_podman_executable
        env:
          - name: ANSIBLE_PODMAN_EXECUTABLE
"""


def exec_arguments(user: str | None, interactive: bool) -> list[str]:
    """The `podman exec` options before the container: standard input kept open when there is input to send."""
    arguments = ["exec"]
    if interactive:
        arguments.append("--interactive")
    if user:
        arguments += ["--user", user]
    return arguments


class Connection(PodmanConnection):
    has_pipelining = True

    @ensure_connect
    def exec_command(self, cmd, in_data=None, sudoable=False):
        ConnectionBase.exec_command(self, cmd, in_data=in_data, sudoable=sudoable)
        command = shlex.split(to_native(cmd, errors="surrogate_or_strict"))
        return self._podman(exec_arguments(self.user, in_data is not None), command, in_data)

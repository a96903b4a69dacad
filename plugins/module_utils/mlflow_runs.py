# Copyright: contributors to baremetal.mlops
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Facts about MLflow runs that need no HTTP client.

Kept apart from mlflow.py, which imports Ansible's HTTP code (urls, and with it
cryptography and the email package), so that the filter plugins reading these
facts stay cheap to import: Ansible loads every filter file of a collection in
each task process that uses one of its filters.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

# Run statuses after which a run's data no longer changes (RUNNING and SCHEDULED runs still log).
FINISHED_RUN_STATUSES = ("FINISHED", "FAILED", "KILLED")

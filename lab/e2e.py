"""The lab's data path end to end: `make e2e` and tests/e2e_data run these same steps.

  1. the lab's secrets generated (inventories/lab/group_vars/all/secrets.yml)
  2. data services up (MinIO, PostgreSQL, MLflow)
  3. buckets, team policies and team users from the inventory (lab/playbooks/provision.yml)
  4. the iris model trained and registered (lab/train_iris.py)
  5. that version promoted to the serving alias (lab/playbooks/promote.yml)
  6. MLServer serving the alias, Prometheus scraping it
  7. 50 predictions
  8. playbooks/verify.yml

Every playbook runs against the lab inventory alone: it holds the endpoints
and the credentials. `run()` stops at the end exactly the services it started.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from lab import credentials
from lab.data import Data
from lab.serving import Serving
from lab.settings import Settings

PLAYBOOKS = Path(__file__).resolve().parent / "playbooks"


class E2EError(Exception):
    """A step of the data path failed; the message holds its output."""


class Pipeline:
    def __init__(self, settings: Settings, log=print):
        self.settings = settings
        self.data = Data(settings)
        self.serving = Serving(settings)
        self.log = log

    def playbook(self, *args, verbose: int = 0) -> subprocess.CompletedProcess:
        """ansible-playbook from the repo root against the lab inventory; output merged into stdout."""
        root = self.settings.root
        env = dict(os.environ)
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
        env.update(ANSIBLE_CONFIG=str(root / "ansible.cfg"), ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
        argv = ["ansible-playbook", "-i", str(self.settings.inventory_path), *map(str, args)]
        if verbose:
            argv.append("-" + "v" * verbose)
        return subprocess.run(
            argv, cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False
        )

    def _must(self, result: subprocess.CompletedProcess, what: str) -> subprocess.CompletedProcess:
        if result.returncode != 0:
            raise E2EError(f"{what} failed (rc={result.returncode}):\n{result.stdout[-6000:]}")
        return result

    # --- the steps, in order ---------------------------------------------------------------------

    def secrets(self) -> list[str]:
        return credentials.ensure(self.settings.inventory_path)

    def data_up(self) -> list[str]:
        return self.data.up(log=self.log)

    def provision(self, *extra: str, verbose: int = 0) -> subprocess.CompletedProcess:
        return self._must(self.playbook(PLAYBOOKS / "provision.yml", *extra, verbose=verbose), "provision.yml")

    def train(self) -> dict:
        return self.serving.train()

    def promote(self, version: str) -> subprocess.CompletedProcess:
        result = self.playbook(PLAYBOOKS / "promote.yml", "-e", f"lab_model_version={version}")
        return self._must(result, "promote.yml")

    def serve(self) -> tuple[list[str], list[str]]:
        """MLServer on the alias just promoted (a running one may serve an older version), Prometheus.

        Returns (restarted, started)."""
        restarted = self.serving.down(["mlserver"], log=self.log)
        return restarted, self.serving.up(log=self.log)

    def predict(self, count: int = 50) -> list[int]:
        return self.serving.predict(count)

    def verify(self, *extra: str, verbose: int = 0) -> subprocess.CompletedProcess:
        return self.playbook("playbooks/verify.yml", *extra, verbose=verbose)

    # --- all of it ---------------------------------------------------------------------------------

    def run(self) -> int:
        started_at = time.monotonic()
        data_started: list[str] = []
        serving_started: list[str] = []
        ok = False

        def step(text: str) -> None:
            self.log(f"\n==> e2e: {text}")

        try:
            step("lab secrets and data services (MinIO, PostgreSQL, MLflow)")
            self.secrets()
            data_started = self.data_up()
            step("buckets, team policies and team users")
            self.log(self.provision().stdout)
            step(f"train and register {self.serving.model}")
            summary = self.train()
            self.log(summary)
            step(f"promote version {summary['model_version']} to {self.serving.alias}")
            self.log(self.promote(summary["model_version"]).stdout)
            step("serve the alias (MLServer) and scrape it (Prometheus)")
            restarted, started = self.serve()
            serving_started = [name for name in started if name not in restarted]
            step("50 predictions")
            classes = self.predict(50)
            self.log({c: classes.count(c) for c in sorted(set(classes))})
            if not set(classes) <= {0, 1, 2}:
                raise E2EError(f"unexpected classes {sorted(set(classes))}")
            step("verify (playbooks/verify.yml)")
            result = self.verify()
            self.log(result.stdout)
            ok = result.returncode == 0
        except Exception as exc:  # report any failure, then still stop what this run started
            self.log(f"e2e: {type(exc).__name__}: {exc}")
        finally:
            try:
                self.serving.down(serving_started, log=self.log)
                self.data.down(data_started, log=self.log)
            except Exception as exc:  # a failed stop fails the run too
                self.log(f"e2e: stopping what this run started failed: {exc}")
                ok = False
        self.log(f"e2e: {'passed' if ok else 'FAILED'} in {time.monotonic() - started_at:.0f}s")
        return 0 if ok else 1

# Entry points. `make lab` and `make test` are the two commands the README
# promises: each installs what it needs, then does its job.
SHELL := /bin/bash
.DEFAULT_GOAL := help
export PATH := $(CURDIR)/.venv/bin:$(PATH)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg

.PHONY: help setup lab test lint sanity unit bench

help:  ## list the targets
	@grep -hE '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | sort

setup:  ## install the pinned Python tool chain into .venv and the Debian packages the tests use
	@scripts/setup-venv.sh
	@scripts/setup-system.sh

lab: setup lab-secrets lab-up data-up  ## bring the lab and its data services up, then run the main job (playbooks/site.yml) on the embedded lab inventory
	K8S_AUTH_KUBECONFIG=$(CURDIR)/.lab/kubeconfig ansible-playbook playbooks/site.yml -i inventories/lab
	@# the real controllers of the charts site.yml installed (MetalLB), lab/controllers.py
	$(LAB) cluster up

.PHONY: lab-secrets
lab-secrets: setup  ## generate the lab inventory's secrets once (inventories/lab/group_vars/all/secrets.yml, mode 0600)
	$(LAB) secrets

test: setup  ## run every gate and the test suite (the lab and host-container tests: one of three shards, in turn; TEST_SHARD=all for all)
	scripts/run-tests.sh

lint: setup  ## yamllint, ansible-lint and ruff only
	yamllint --strict . && ansible-lint && ruff check . && ruff format --check .

sanity: setup  ## ansible-test sanity on the plugins
	scripts/sanity.sh

unit: setup  ## Python unit tests only
	pytest tests/unit

bench: setup  ## benchmarks (wall time, printed; nothing asserted)
	python tests/bench/run.py

-include mk/*.mk

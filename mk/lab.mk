# The lab: a real Kubernetes control plane with kwok-simulated (GPU) nodes on
# this machine (docs/lab.md), run by the lab package (`python -m lab cluster ...`).
# lab-up builds the tool chain first when it is not cached yet
# ($${BAREMETAL_CACHE:-~/.cache/baremetal-mlops}/lab-tools).
# recipes run in $(CURDIR), the repository root: `-m lab` finds the package there
LAB := $(CURDIR)/.venv/bin/python -m lab
# .lab/bin links to the pinned kubectl/helm (kubernetes.core.helm needs the helm CLI)
export PATH := $(CURDIR)/.lab/bin:$(PATH)

.PHONY: lab-build lab-up lab-down lab-status lab-reset

lab-build: setup  ## build the lab's pinned tool chain from Go modules (only what is not cached)
	$(LAB) cluster build

lab-up: lab-build  ## start the lab cluster and chart mirror (no-op when up); kubeconfig in .lab/kubeconfig
	$(LAB) cluster up

lab-down:  ## stop every process lab-up started; keeps .lab/cluster (certificates, etcd data) for a fast restart
	$(LAB) cluster down

lab-status:  ## report each lab component; non-zero exit when one is down or crashed
	$(LAB) cluster status

lab-reset:  ## lab-down, then remove the cluster state (.lab/cluster: certificates, etcd data; .lab/kubeconfig)
	$(LAB) cluster reset

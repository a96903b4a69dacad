# The lab: a real Kubernetes control plane with kwok-simulated (GPU) nodes on
# this machine (docs/lab.md). lab-up builds the tool chain first when it is
# not cached yet ($${BAREMETAL_CACHE:-~/.cache/baremetal-mlops}/lab-tools).
LABCTL := $(CURDIR)/.venv/bin/python $(CURDIR)/lab/labctl.py
# .lab/bin links to the pinned kubectl/helm (kubernetes.core.helm needs the helm CLI)
export PATH := $(CURDIR)/.lab/bin:$(PATH)

.PHONY: lab-build lab-up lab-down lab-status lab-reset

lab-build: setup  ## build the lab's pinned tool chain from Go modules (only what is not cached)
	$(LABCTL) build

lab-up: lab-build  ## start the lab cluster and chart mirror (no-op when up); kubeconfig in .lab/kubeconfig
	$(LABCTL) up

lab-down:  ## stop every process lab-up started; keeps .lab/cluster (certificates, etcd data) for a fast restart
	$(LABCTL) down

lab-status:  ## report each lab component; non-zero exit when one is down or crashed
	$(LABCTL) status

lab-reset:  ## lab-down, then remove the cluster state (.lab/cluster: certificates, etcd data; .lab/kubeconfig)
	$(LABCTL) reset

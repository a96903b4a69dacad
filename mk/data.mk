# Lab data services (lab/data.py): MinIO, PostgreSQL and the MLflow tracking
# server on loopback, state in .lab/data/; addresses and credentials from
# inventories/lab (lab_listen, secrets.yml). The first `data-up` builds MinIO
# from its Go module and the MLflow environment (cached).
.PHONY: data-up data-down data-status data-env data-reset

data-up: setup  ## start MinIO, PostgreSQL and MLflow on loopback (addresses: lab_listen in inventories/lab)
	nice -n 5 $(LAB) data up

data-down:  ## stop the lab data services started by data-up
	$(LAB) data down

data-status:  ## report the lab data services' health
	$(LAB) data status

data-env:  ## print the client environment (endpoints, the lab's MinIO root account) as export lines
	@$(LAB) data env

data-reset:  ## data-down, then delete .lab/data (buckets, database)
	$(LAB) data reset

# Lab data services (lab/data/labdata.py): MinIO, PostgreSQL and the MLflow
# tracking server on loopback, state in .lab/data/. The first `data-up`
# builds MinIO from its Go module and the MLflow environment (cached).
.PHONY: data-up data-down data-status data-env

data-up: setup  ## start MinIO (:19000), PostgreSQL (:15432) and MLflow (:15000) on loopback
	nice -n 5 python lab/data/labdata.py up

data-down:  ## stop the lab data services started by data-up
	python lab/data/labdata.py down

data-status:  ## report the lab data services' health
	python lab/data/labdata.py status

data-env:  ## print the client environment (endpoints, lab credentials) as export lines
	@python lab/data/labdata.py env

.PHONY: data-reset
data-reset:  ## data-down, then delete .lab/data (buckets, database, lab credentials)
	python lab/data/labdata.py down
	rm -rf .lab/data

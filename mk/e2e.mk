# The lab's serving and metrics path (lab/serving/labserving.py): MLServer
# serving the registry's champion model and Prometheus scraping it and MinIO,
# on loopback, state in .lab/serving/. The first `serving-up` creates the
# MLServer environment (cached). `e2e` runs the whole data path and verify.
.PHONY: serving-up serving-down serving-status e2e

serving-up: setup  ## serve iris-bare-metal@champion (MLServer :18080, metrics :18082) and start Prometheus (:19090); needs data-up
	nice -n 5 python lab/serving/labserving.py up

serving-down:  ## stop MLServer and Prometheus started by serving-up
	python lab/serving/labserving.py down

serving-status:  ## report MLServer's and Prometheus's health
	python lab/serving/labserving.py status

e2e: setup  ## data services, team buckets and users, train, promote, serve, 50 predictions, verify; then stop what it started
	lab/serving/e2e.sh

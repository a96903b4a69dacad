# The lab's serving and metrics path (lab/serving.py): MLServer serving the
# registry's champion model and Prometheus scraping it and MinIO, on loopback,
# state in .lab/serving/. The first `serving-up` creates the MLServer
# environment (cached). `e2e` runs the whole data path and verify (lab/e2e.py,
# the same steps tests/e2e_data runs).
.PHONY: serving-up serving-down serving-status e2e

serving-up: setup  ## serve iris-bare-metal@champion (MLServer) and start Prometheus; needs data-up
	nice -n 5 $(LAB) serving up

serving-down:  ## stop MLServer and Prometheus started by serving-up
	$(LAB) serving down

serving-status:  ## report MLServer's and Prometheus's health
	$(LAB) serving status

e2e: setup  ## data services, team buckets and users, train, promote, serve, 50 predictions, verify; then stop what it started
	nice -n 5 $(LAB) e2e

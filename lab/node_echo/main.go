// lab-echo: the workload the real-node tests run on a worker. It answers
// every HTTP request on :8080 with the pod's host name, so a test that asks
// over the pod network knows which pod answered. Standard library only: it
// builds offline, statically, in seconds.
package main

import (
	"fmt"
	"log"
	"net/http"
	"os"
)

func main() {
	name, _ := os.Hostname()
	http.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, "lab-echo %s\n", name)
	})
	log.Fatal(http.ListenAndServe(":8080", nil))
}

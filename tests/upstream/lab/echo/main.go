// Command echo is the lab's pod test image: an HTTP server that answers every request with the pod's
// hostname and the client's address, so a test can tell which pod a Service connection reached.
package main

import (
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
)

func main() {
	listen := flag.String("listen", ":8080", "address to listen on")
	flag.Parse()
	host, _ := os.Hostname()
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s %s\n", host, r.RemoteAddr)
	})
	log.Fatal(http.ListenAndServe(*listen, nil))
}

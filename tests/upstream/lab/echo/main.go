// Command echo is the lab's pod test image: an HTTP server that answers every request with the pod's
// hostname and the client's address, so a test can tell which pod a Service connection reached.
//
// With -get URL it is the client instead: it fetches URL (retrying until -timeout), prints the body and
// exits 0, or prints the last error and exits 1. A test runs it as a pod to reach another pod or a Service.
package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"time"
)

func main() {
	listen := flag.String("listen", ":8080", "address to listen on")
	get := flag.String("get", "", "fetch this URL, print the body and exit (client mode)")
	timeout := flag.Duration("timeout", 60*time.Second, "client mode: give up after this long")
	flag.Parse()
	if *get != "" {
		os.Exit(fetch(*get, *timeout))
	}
	host, _ := os.Hostname()
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s %s\n", host, r.RemoteAddr)
	})
	log.Fatal(http.ListenAndServe(*listen, nil))
}

func fetch(url string, timeout time.Duration) int {
	client := &http.Client{Timeout: 5 * time.Second}
	deadline := time.Now().Add(timeout)
	for {
		response, err := client.Get(url)
		if err == nil {
			body, readErr := io.ReadAll(response.Body)
			response.Body.Close()
			if readErr == nil && response.StatusCode == http.StatusOK {
				fmt.Print(string(body))
				return 0
			}
			err = fmt.Errorf("status %d, %v", response.StatusCode, readErr)
		}
		if time.Now().After(deadline) {
			fmt.Fprintf(os.Stderr, "GET %s: %v\n", url, err)
			return 1
		}
		time.Sleep(time.Second)
	}
}

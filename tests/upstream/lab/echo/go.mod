// The lab's test image for pods: a static TCP/HTTP echo server (no deps).
module hybridctl.test/upstream/lab/echo

go 1.26.0

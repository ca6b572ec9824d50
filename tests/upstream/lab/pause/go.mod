// The lab's pause container: the sandbox process every pod's containers join (built static, no deps).
module hybridctl.test/upstream/lab/pause

go 1.26.0

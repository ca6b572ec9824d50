// A stand-in for github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/vpc v1.3.188, which the Go module
// proxy this lab builds from refuses ("403 This module version is not available"). flanneld links its
// tencentvpc backend unconditionally (main.go imports every backend); the lab runs the vxlan backend, so
// this package only has to compile: every call fails. See stub.go.
module github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/vpc

go 1.22

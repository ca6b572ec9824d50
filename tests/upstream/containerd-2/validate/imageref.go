// Kind "cri-image-ref": an image reference as containerd's CRI image service names it. PullImage and
// LocalResolve (the lookup behind ImageStatus, which the kubelet asks before it pulls) both key the image
// store by distribution/reference's ParseDockerRef(ref).String() (internal/cri/server/images/image_pull.go,
// service.go): Docker Hub names gain docker.io/ and library/, a name without tag or digest gains :latest, a
// name with both a tag and a digest keeps only the digest. The normalised reference is returned in
// "detail"; a reference ParseDockerRef refuses is an error.
package main

import (
	"github.com/distribution/reference"
)

func judgeImageRef(c check) (string, error) {
	named, err := reference.ParseDockerRef(c.Data)
	if err != nil {
		return "", err
	}
	return named.String(), nil
}

package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	certutil "k8s.io/client-go/util/cert"
	remotecommandserver "k8s.io/cri-streaming/pkg/streaming/remotecommand"
	"k8s.io/klog/v2"
	utilexec "k8s.io/utils/exec"
)

// serveAPI serves the part of the kubelet's HTTPS API (pkg/kubelet/server/server.go) that the API server
// proxies for `kubectl exec` and `kubectl logs`: /exec/{namespace}/{pod}/{container} and
// /containerLogs/{namespace}/{pod}/{container}, on the node's address and the configured port.
//
// Real (upstream code): the serving certificate is self-signed by client-go's GenerateSelfSignedCertKey
// and written to <cert-dir>/kubelet.crt and kubelet.key, as the kubelet does without a serving certificate
// (cmd/kubelet/app/server.go InitializeTLS); clients are authenticated by their certificate against the
// config's authentication.x509.clientCAFile and authorised by a SubjectAccessReview for nodes/proxy with
// the node's own credentials (the kubelet's webhook authoriser, pkg/kubelet/server/auth.go: exec and
// containerLogs are the "proxy" subresource, GET is "get", POST is "create"); the exec streams (SPDY, as
// the API server speaks to kubelets) are the CRI streaming server's own remotecommand code
// (k8s.io/cri-streaming ServeExec, the code the container runtime's streaming server runs).
//
// Emulated: the container runtime. The hook says which program of this machine runs the command in the
// pod's network namespace (only the image's stand-in program, see winnode_hook.py) and where the pod's
// log file is.
func (k *kubeletNode) serveAPI(ctx context.Context) error {
	tlsConfig, err := k.servingTLS()
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/exec/", k.authorised(k.serveExec))
	mux.HandleFunc("/containerLogs/", k.authorised(k.serveLogs))
	address := net.JoinHostPort(k.flags.NodeIP, strconv.Itoa(int(k.config.Port)))
	server := &http.Server{Addr: address, Handler: mux, TLSConfig: tlsConfig, ReadHeaderTimeout: 30 * time.Second}
	go func() {
		<-ctx.Done()
		_ = server.Close()
	}()
	klog.InfoS("Starting to listen", "address", k.flags.NodeIP, "port", k.config.Port)
	if err := server.ListenAndServeTLS("", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("kubelet API: %w", err)
	}
	return nil
}

// servingTLS: a self-signed certificate for the node's name and address, and the client CA pool.
func (k *kubeletNode) servingTLS() (*tls.Config, error) {
	certPEM, keyPEM, err := certutil.GenerateSelfSignedCertKey(k.name, []net.IP{net.ParseIP(k.flags.NodeIP)}, nil)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(k.flags.CertDirectory, 0o755); err != nil {
		return nil, err
	}
	for name, data := range map[string][]byte{"kubelet.crt": certPEM, "kubelet.key": keyPEM} {
		if err := os.WriteFile(filepath.Join(k.flags.CertDirectory, name), data, 0o600); err != nil {
			return nil, err
		}
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, err
	}
	caFile := resolvedWinPath(k.o.root, k.config.Authentication.X509.ClientCAFile)
	pool, err := certutil.NewPool(caFile)
	if err != nil {
		return nil, fmt.Errorf("authentication.x509.clientCAFile: %w", err)
	}
	return &tls.Config{
		Certificates: []tls.Certificate{pair},
		ClientAuth:   tls.VerifyClientCertIfGiven,
		ClientCAs:    pool,
		MinVersion:   tls.VersionTLS12,
	}, nil
}

// authorised answers 401 without a verified client certificate and 403 when the SubjectAccessReview
// denies the request.
func (k *kubeletNode) authorised(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, req *http.Request) {
		user, ok := clientUser(req)
		if !ok {
			http.Error(w, "Unauthorized", http.StatusUnauthorized)
			return
		}
		verb := "get"
		if req.Method == http.MethodPost {
			verb = "create"
		}
		review := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
			User:   user.CommonName,
			Groups: user.Organization,
			ResourceAttributes: &authorizationv1.ResourceAttributes{
				Verb: verb, Resource: "nodes", Subresource: "proxy", Name: k.name,
			},
		}}
		answer, err := k.client.AuthorizationV1().SubjectAccessReviews().Create(req.Context(), review, metav1.CreateOptions{})
		if err != nil {
			http.Error(w, fmt.Sprintf("Authorization error (user=%s, verb=%s, resource=nodes, subresource=proxy)", user.CommonName, verb), http.StatusInternalServerError)
			return
		}
		if !answer.Status.Allowed {
			http.Error(w, fmt.Sprintf("Forbidden (user=%s, verb=%s, resource=nodes, subresource=proxy)", user.CommonName, verb), http.StatusForbidden)
			return
		}
		next(w, req)
	}
}

func clientUser(req *http.Request) (x509Name, bool) {
	if req.TLS == nil || len(req.TLS.VerifiedChains) == 0 || len(req.TLS.VerifiedChains[0]) == 0 {
		return x509Name{}, false
	}
	leaf := req.TLS.VerifiedChains[0][0]
	return x509Name{CommonName: leaf.Subject.CommonName, Organization: leaf.Subject.Organization}, true
}

type x509Name struct {
	CommonName   string
	Organization []string
}

// containerPath splits /{verb}/{namespace}/{pod}/{container} (or with the pod UID before the container).
func containerPath(path, prefix string) (namespace, pod, container string, err error) {
	parts := strings.Split(strings.Trim(strings.TrimPrefix(path, prefix), "/"), "/")
	switch len(parts) {
	case 3:
		return parts[0], parts[1], parts[2], nil
	case 4:
		return parts[0], parts[1], parts[3], nil
	}
	return "", "", "", fmt.Errorf("expected %s{namespace}/{pod}/{container}, got %s", prefix, path)
}

type execRequest struct {
	Namespace string   `json:"namespace"`
	Name      string   `json:"name"`
	Container string   `json:"container"`
	Command   []string `json:"command,omitempty"`
}

type execAnswer struct {
	Argv []string `json:"argv,omitempty"`
	Log  string   `json:"log,omitempty"`
}

func (k *kubeletNode) serveExec(w http.ResponseWriter, req *http.Request) {
	namespace, pod, container, err := containerPath(req.URL.Path, "/exec/")
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	streamOpts, err := remotecommandserver.NewOptions(req)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	command := req.URL.Query()[v1.ExecCommandParam]
	executor := &hookExecutor{hook: k.o.hook, namespace: namespace}
	idle := k.config.StreamingConnectionIdleTimeout.Duration
	remotecommandserver.ServeExec(w, req, executor, pod, "", container, command, streamOpts, idle,
		remotecommandserver.DefaultStreamCreationTimeout, remotecommandserver.SupportedStreamingProtocols)
}

// hookExecutor runs the command the hook maps to a program of this machine in the pod's namespace.
type hookExecutor struct {
	hook      string
	namespace string
}

func (e *hookExecutor) ExecInContainer(ctx context.Context, name, _ string, container string, cmd []string, in io.Reader, out, errOut io.WriteCloser, _ bool, _ <-chan remotecommandserver.TerminalSize, _ time.Duration) error {
	var answer execAnswer
	request := execRequest{Namespace: e.namespace, Name: name, Container: container, Command: cmd}
	if err := callHook(ctx, e.hook, "exec", request, &answer); err != nil {
		return err
	}
	run := exec.CommandContext(ctx, answer.Argv[0], answer.Argv[1:]...)
	run.Stdin, run.Stdout, run.Stderr = in, out, errOut
	err := run.Run()
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		return utilexec.CodeExitError{Err: err, Code: exitErr.ExitCode()}
	}
	return err
}

func (k *kubeletNode) serveLogs(w http.ResponseWriter, req *http.Request) {
	namespace, pod, container, err := containerPath(req.URL.Path, "/containerLogs/")
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var answer execAnswer
	request := execRequest{Namespace: namespace, Name: pod, Container: container}
	if err := callHook(req.Context(), k.o.hook, "logs", request, &answer); err != nil {
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	}
	data, err := os.ReadFile(answer.Log)
	if err != nil {
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	}
	if tail, err := strconv.Atoi(req.URL.Query().Get("tailLines")); err == nil && tail >= 0 {
		lines := strings.SplitAfter(string(data), "\n")
		if lines[len(lines)-1] == "" {
			lines = lines[:len(lines)-1]
		}
		if len(lines) > tail {
			lines = lines[len(lines)-tail:]
		}
		data = []byte(strings.Join(lines, ""))
	}
	w.Header().Set("Content-Type", "text/plain")
	_, _ = w.Write(data)
}

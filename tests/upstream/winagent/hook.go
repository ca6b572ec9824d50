package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
)

// callHook runs the simulator's hook with VERB and the JSON of input on stdin; answer (when not nil)
// receives its JSON stdout. The hook stands for what Windows does (HNS, the container runtime).
func callHook(ctx context.Context, hook, verb string, input, answer any) error {
	data, err := json.Marshal(input)
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, hook, verb)
	cmd.Stdin = bytes.NewReader(data)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		message := strings.TrimSpace(stderr.String())
		if message == "" {
			message = err.Error()
		}
		return fmt.Errorf("%s", message)
	}
	if answer != nil {
		if err := json.Unmarshal(stdout.Bytes(), answer); err != nil {
			return fmt.Errorf("hook %s answered %q: %w", verb, stdout.String(), err)
		}
	}
	return nil
}

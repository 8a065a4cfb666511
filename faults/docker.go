// Package faults runs the province as separate processes in Docker
// containers on private networks — three central members and commune
// nodes, configured as in production (TLS, enrollment by token) — and
// drives faults into it: a commune cut from central, members and nodes
// killed with SIGKILL. A checker then says whether anything a clerk was
// told was saved got lost, doubled or invented on its way to central.
//
// Everything goes through the docker command line; images are built
// locally FROM scratch with the static xaso binary (there is no registry).
package faults

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
)

// docker runs the docker command line and returns its trimmed output.
func docker(ctx context.Context, args ...string) (string, error) {
	var out, errb bytes.Buffer
	cmd := exec.CommandContext(ctx, "docker", args...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("docker %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(errb.String()))
	}
	return strings.TrimSpace(out.String()), nil
}

// containerIP is a container's address on a network.
func containerIP(ctx context.Context, name, network string) (string, error) {
	return docker(ctx, "inspect", "-f", "{{(index .NetworkSettings.Networks \""+network+"\").IPAddress}}", name)
}

package deploytest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// hostImage is the systemd host image, built once per machine.
const hostImage = "xaso-ansible-host:bookworm"

// sh runs a command and returns its output; the error carries stderr.
func sh(ctx context.Context, dir string, env []string, name string, args ...string) (string, error) {
	var out, errb bytes.Buffer
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir, cmd.Stdout, cmd.Stderr = dir, &out, &errb
	cmd.Env = append(os.Environ(), env...)
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("%s %s: %w\n%s\n%s", name, strings.Join(args, " "), err, lastLines(out.String(), 60), lastLines(errb.String(), 20))
	}
	return out.String(), nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func docker(ctx context.Context, args ...string) (string, error) {
	out, err := sh(ctx, "", nil, "docker", args...)
	return strings.TrimSpace(out), err
}

// buildHostImage makes the Debian host image with systemd, python3 and
// sudo, unless this machine has it already.
func buildHostImage(ctx context.Context, t *testing.T) {
	if _, err := docker(ctx, "image", "inspect", hostImage); err == nil {
		return
	}
	tar := filepath.Join(t.TempDir(), "rootfs.tar")
	if _, err := sh(ctx, "", nil, "mmdebstrap", "--variant=minbase",
		"--include=systemd,systemd-sysv,dbus,python3,sudo,iproute2,procps,ca-certificates", "bookworm", tar); err != nil {
		t.Fatalf("host rootfs: %v", err)
	}
	if _, err := docker(ctx, "import", "-c", `CMD ["/sbin/init"]`, tar, hostImage); err != nil {
		t.Fatalf("host image: %v", err)
	}
}

// host is a container running systemd, as a deployment target.
type host struct {
	name      string // the inventory hostname and the container's hostname
	container string
}

// startHost runs a systemd container on network, reachable there as name.
func startHost(ctx context.Context, run, network, name string) (host, error) {
	h := host{name: name, container: run + "-" + name}
	_, err := docker(ctx, "run", "-d", "--name", h.container, "--hostname", name, "--network", network, "--network-alias", name,
		"--tmpfs", "/run", "--tmpfs", "/run/lock", "--tmpfs", "/tmp", "--cap-add", "SYS_ADMIN",
		"-v", "/sys/fs/cgroup:/sys/fs/cgroup:ro", "--stop-signal", "SIGRTMIN+3", hostImage, "/sbin/init")
	return h, err
}

// exec runs a command on the host.
func (h host) exec(ctx context.Context, args ...string) (string, error) {
	return docker(ctx, append([]string{"exec", h.container}, args...)...)
}

// ip is the host's address on network.
func (h host) ip(ctx context.Context, network string) (string, error) {
	return docker(ctx, "inspect", "-f", "{{(index .NetworkSettings.Networks \""+network+"\").IPAddress}}", h.container)
}

// recap is one host's line of a playbook's PLAY RECAP.
type recap struct{ ok, changed, unreachable, failed int }

var recapLine = regexp.MustCompile(`(?m)^(\S+)\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)`)

// parseRecap reads the PLAY RECAP of a playbook's output.
func parseRecap(out string) map[string]recap {
	r := map[string]recap{}
	for _, m := range recapLine.FindAllStringSubmatch(out, -1) {
		n := func(i int) int { v, _ := strconv.Atoi(m[i]); return v }
		r[m[1]] = recap{ok: n(2), changed: n(3), unreachable: n(4), failed: n(5)}
	}
	return r
}

// waitFor polls cond until it holds or within passes.
func waitFor(ctx context.Context, within time.Duration, what string, cond func() (bool, string)) error {
	deadline := time.Now().Add(within)
	for {
		ok, state := cond()
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: not within %v; last: %s", what, within, state)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

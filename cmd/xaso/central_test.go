package main

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xaso/xaso/internal/freeport"
)

func freePort(t *testing.T) string {
	t.Helper()
	addr, err := freeport.Addr()
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

// TestCentralClusterFromTheCommandLine makes a CA and certificates with
// `xaso admin pki`, runs three `xaso central` members, and administers the
// cluster with `xaso admin`. A restarted member does not bootstrap again.
func TestCentralClusterFromTheCommandLine(t *testing.T) {
	dir := t.TempDir()
	pkiDir := filepath.Join(dir, "pki")
	if code, _, errs := runCmd(t, "admin", "pki", "init", "--dir", pkiDir); code != 0 {
		t.Fatalf("pki init: %s", errs)
	}
	if code, _, _ := runCmd(t, "admin", "pki", "init", "--dir", pkiDir); code == 0 {
		t.Fatal("pki init overwrote a CA")
	}
	bootToken := filepath.Join(dir, "bootstrap.token")
	os.WriteFile(bootToken, []byte("xo_bootstrap-token-for-the-command-line-test\n"), 0o600)
	token := bootToken // the bootstrap token until the first operator token is made

	type member struct{ id, raft, api string }
	var ms []member
	var boot []string
	for i := 1; i <= 3; i++ {
		m := member{fmt.Sprintf("central-%d", i), freePort(t), freePort(t)}
		ms = append(ms, m)
		boot = append(boot, m.id+"="+m.raft)
		if code, _, errs := runCmd(t, "admin", "pki", "issue", m.id, "--dir", pkiDir, "--hosts", "127.0.0.1,localhost"); code != 0 {
			t.Fatalf("pki issue: %s", errs)
		}
	}
	// The state's key: central-3's named by the flag, the others' by default {data_dir}.key.
	stateKey := map[string]string{"central-1": filepath.Join(dir, "central-1.key"), "central-2": filepath.Join(dir, "central-2.key"), "central-3": filepath.Join(dir, "state-3.key")}
	args := func(m member) []string {
		a := []string{"central", "--id", m.id, "--data-dir", filepath.Join(dir, m.id), "--raft-listen", m.raft, "--api-listen", m.api,
			"--bootstrap", strings.Join(boot, ","), "--ca-file", filepath.Join(pkiDir, "ca.crt"),
			"--cert-file", filepath.Join(pkiDir, m.id+".crt"), "--key-file", filepath.Join(pkiDir, m.id+".key"),
			"--bootstrap-token-file", bootToken, "--heartbeat-timeout", "300ms", "--election-timeout", "300ms"}
		if m.id == "central-3" {
			a = append(a, "--state-key-file", stateKey[m.id])
		}
		return a
	}
	// A key file others may read: refused in one line naming it, before anything starts.
	loose := filepath.Join(dir, "loose.key")
	os.WriteFile(loose, []byte(strings.Repeat("ab", 32)), 0o600)
	os.Chmod(loose, 0o644)
	if code, _, e := runCmd(t, append(args(ms[0]), "--state-key-file", loose)...); code != 1 || !strings.HasPrefix(e, "xaso central: state_key_file: ") || strings.Count(strings.TrimSpace(e), "\n") != 0 {
		t.Fatalf("a state key others may read: exit %d, %q", code, e)
	}
	type running struct {
		cancel context.CancelFunc
		done   chan int
		logs   *syncBuffer
	}
	start := func(m member) running {
		ctx, cancel := context.WithCancel(context.Background())
		r := running{cancel: cancel, done: make(chan int, 1), logs: &syncBuffer{}}
		go func() { r.done <- run(ctx, args(m), &syncBuffer{}, r.logs) }()
		return r
	}
	procs := map[string]running{}
	for _, m := range ms {
		procs[m.id] = start(m)
	}
	var stopOnce sync.Once
	stopAll := func() {
		stopOnce.Do(func() {
			for id, p := range procs {
				p.cancel()
				if code := <-p.done; code != 0 {
					t.Errorf("%s exited %d: %s", id, code, p.logs.String())
				}
			}
		})
	}
	defer stopAll()

	// protojson varies its spacing on purpose; the checks below read it normalised.
	spaces := regexp.MustCompile(`":\s+`)
	admin := func(m member, a ...string) (int, string, string) {
		code, o, e := runCmd(t, append([]string{"admin", "--central", m.api, "--ca", filepath.Join(pkiDir, "ca.crt"), "--token-file", token}, a...)...)
		return code, spaces.ReplaceAllString(o, `": `), e
	}
	var out string
	deadline := time.Now().Add(20 * time.Second)
	for {
		code, o, _ := admin(ms[0], "cluster", "status")
		if code == 0 && strings.Contains(o, `"leader": true`) && strings.Count(o, `"api_address"`) == 3 {
			out = o
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no leader with every API address known: %s", o)
		}
		time.Sleep(100 * time.Millisecond) // polling for the election, bounded by the deadline
	}
	if strings.Count(out, `"suffrage": "Voter"`) != 3 {
		t.Fatalf("status: %s", out)
	}
	// The bootstrap token may not administer: it makes the first
	// operator token, whose secret the command keeps in a file it makes
	// first, and is refused from then on.
	if code, _, e := admin(ms[0], "communes", "list"); code != 1 || !strings.Contains(e, "PermissionDenied") {
		t.Fatalf("communes list with the bootstrap token: %d %s", code, e)
	}
	adminToken := filepath.Join(dir, "admin.token")
	if code, o, e := admin(ms[1], "token", "create", "quan-tri", "--role", "operator", "--secret-file", adminToken); code != 0 || strings.Contains(o, `"secret"`) || !strings.Contains(e, adminToken) {
		t.Fatalf("first token: %d %s %s", code, o, e)
	}
	if st, err := os.Stat(adminToken); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("the first token's secret file: %v %v", st, err)
	}
	if code, _, e := admin(ms[1], "token", "create", "lan-nua", "--role", "operator"); code != 1 || !strings.Contains(e, "bootstrap token is spent") {
		t.Fatalf("a second token with the bootstrap token: %d %s", code, e)
	}
	token = adminToken
	// Writes on any member.
	if code, o, e := admin(ms[1], "communes", "put", "00004", "Phường Ba Đình"); code != 0 {
		t.Fatalf("communes put: %s %s", o, e)
	}
	// The Decision 766 indicators: a table (no dossier yet), JSON, a bad month.
	if code, o, e := admin(ms[1], "report", "indicators", "--from", "2026-01", "--to", "2026-03", "--by", "commune"); code != 0 || !strings.Contains(o, "Không có hồ sơ nào trong kỳ") {
		t.Fatalf("report indicators: %d %s %s", code, o, e)
	}
	if code, o, e := admin(ms[1], "report", "indicators", "--from", "2026-01", "--json"); code != 0 || !strings.Contains(o, `"read"`) {
		t.Fatalf("report indicators --json: %d %s %s", code, o, e)
	}
	if code, _, e := admin(ms[1], "report", "indicators", "--from", "2026-13"); code != 1 || !strings.Contains(e, "from_month") {
		t.Fatalf("report indicators of month 13: %d %s", code, e)
	}
	// With the commune's agency e-ID, which dossier codes begin with.
	if code, o, e := admin(ms[1], "communes", "put", "00004", "Phường Ba Đình", "000.00.04.H01"); code != 0 || !strings.Contains(o, `"agency_id": "000.00.04.H01"`) {
		t.Fatalf("communes put with an e-ID: %d %s %s", code, o, e)
	}
	if code, _, e := admin(ms[1], "communes", "put", "00004", "Phường Ba Đình", "000.00.04.h01"); code == 0 || !strings.Contains(e, "agency_id") {
		t.Fatalf("communes put with a malformed e-ID: %d %s", code, e)
	}
	// The units' history, from rows in the shape of units-2025.tsv.
	unitsTSV := filepath.Join(dir, "units.tsv")
	os.WriteFile(unitsTSV, []byte("# province_code\tprovince_name\tunit_code\tunit_name\tformed_from\n"+
		"38\tTỉnh Thanh Hóa\t16186\tXã Hóa Quỳ\tXã Bình Lương, Xã Hóa Quỳ\n38\tTỉnh Thanh Hóa\t14848\tXã Tam Chung\tgiữ nguyên\n"), 0o600)
	if code, o, e := admin(ms[1], "units", "load", unitsTSV); code != 0 || !strings.Contains(o, "2 communes' unit history stored") {
		t.Fatalf("units load: %d %s %s", code, o, e)
	}
	if code, o, e := admin(ms[1], "units", "show", "16186", "--at", "2025-06-30"); code != 0 || !strings.Contains(o, `"valid_to": "2025-07-01"`) || !strings.Contains(o, `"successors"`) {
		t.Fatalf("units show: %d %s %s", code, o, e)
	}
	if code, o, e := admin(ms[1], "units", "history", "16186"); code != 0 || strings.Count(o, `"name": "Xã Hóa Quỳ"`) != 2 || !strings.Contains(o, `"resolution": "1686/NQ-UBTVQH15"`) {
		t.Fatalf("units history: %d %s %s", code, o, e)
	}
	if code, _, e := admin(ms[1], "units", "show", "16186", "--at", "30/6/2025"); code != 1 || !strings.Contains(e, "at") {
		t.Fatalf("units show on a malformed day: %d %s", code, e)
	}
	os.WriteFile(unitsTSV, []byte("38\tTỉnh Thanh Hóa\t1618\tXã Hóa Quỳ\tgiữ nguyên\n"), 0o600)
	if code, _, e := admin(ms[1], "units", "load", unitsTSV); code != 1 || !strings.Contains(e, "not 5 digits") {
		t.Fatalf("units load of a bad list: %d %s", code, e)
	}
	if code, o, e := admin(ms[2], "token", "create", "bao-cao", "--role", "viewer", "--ttl", "720h"); code != 0 || !strings.Contains(o, `"secret": "xo_`) {
		t.Fatalf("token create: %s %s", o, e)
	} else if want := time.Now().Add(720 * time.Hour).UTC().Format("2006-01-02"); !strings.Contains(o, `"expire_time": "`+want) {
		t.Fatalf("a token for 720h does not expire on %s: %s", want, o)
	}
	code, o, e := admin(ms[2], "token", "create", "ho-so", "--role", "records")
	if code != 0 || !strings.Contains(o, `"role": "OPERATOR_ROLE_RECORDS"`) {
		t.Fatalf("records token: %s %s", o, e)
	}
	recordsToken := filepath.Join(t.TempDir(), "records.token")
	if m := regexp.MustCompile(`"secret": "([^"]+)"`).FindStringSubmatch(o); m == nil {
		t.Fatalf("records token without its secret: %s", o)
	} else if err := os.WriteFile(recordsToken, []byte(m[1]), 0o600); err != nil {
		t.Fatal(err)
	}
	// Another member lists them once it has applied the writes (reads are
	// local): poll, bounded.
	for deadline := time.Now().Add(10 * time.Second); ; {
		code, o, e := admin(ms[0], "token", "list")
		if code == 0 && strings.Contains(o, `"name": "bao-cao"`) && strings.Count(o, `"expire_time"`) == 3 && !strings.Contains(o, "secret") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("token list: %s %s", o, e)
		}
		time.Sleep(50 * time.Millisecond) // polling, bounded by the deadline
	}
	if code, o, e := admin(ms[0], "token", "delete", "bao-cao"); code != 0 {
		t.Fatalf("token delete: %s %s", o, e)
	}
	if code, o, e := admin(ms[0], "token", "list"); code != 0 || strings.Contains(o, "bao-cao") {
		t.Fatalf("token list after the delete: %s %s", o, e)
	}
	if code, o, e := admin(ms[2], "enroll", "00004"); code != 0 || !strings.Contains(o, "xaso-enroll-1.00004.") {
		t.Fatalf("enroll: %s %s", o, e)
	}
	if code, _, e := admin(ms[2], "enroll", "99999"); code != 1 || !strings.Contains(e, "commune_code") {
		t.Fatalf("enroll of an unknown commune: %d %s", code, e)
	}
	if code, _, e := admin(ms[0], "token", "create", "x", "--role", "king"); code != 1 || !strings.Contains(e, "viewer, records or operator") {
		t.Fatalf("bad role: %d %s", code, e)
	}
	// Lifting a block names the commune and the sequence; a chain that is
	// not blocked says so.
	if code, _, e := admin(ms[0], "communes", "unblock", "00004", "abc"); code != 1 || !strings.Contains(e, "SEQUENCE") {
		t.Fatalf("unblock with a bad sequence: %d %s", code, e)
	}
	if code, _, e := admin(ms[0], "communes", "unblock", "00004", "3"); code != 1 || !strings.Contains(e, "not blocked") {
		t.Fatalf("unblock of a chain that is not blocked: %d %s", code, e)
	}
	// The commune's access log: empty until its node sends reads; a bad
	// dossier code is named.
	// It is personal data: the records role reads it, an operator may not.
	if code, _, e := admin(ms[1], "access-log", "00004"); code != 1 || !strings.Contains(e, "RECORDS") {
		t.Fatalf("access-log with an operator's token: %d %s", code, e)
	}
	token = recordsToken
	if code, o, e := admin(ms[1], "access-log", "00004"); code != 0 || !strings.Contains(o, `"read"`) || strings.Contains(o, `"entries"`) {
		t.Fatalf("access-log: %d %s %s", code, o, e)
	}
	code, _, e = admin(ms[1], "access-log", "00004", "--dossier", "x")
	token = adminToken
	if code != 1 || !strings.Contains(e, "dossier_code") {
		t.Fatalf("access-log with a bad dossier code: %d %s", code, e)
	}
	if code, o, e := admin(ms[0], "cluster", "snapshot"); code != 0 {
		t.Fatalf("snapshot: %s %s", o, e)
	}
	if code, o, e := admin(ms[1], "cluster", "transfer-leader"); code != 0 {
		t.Fatalf("transfer-leader: %s %s", o, e)
	}

	// A restarted member rejoins without bootstrapping again.
	p := procs[ms[0].id]
	p.cancel()
	if code := <-p.done; code != 0 {
		t.Fatalf("central-1 exited %d: %s", code, p.logs.String())
	}
	procs[ms[0].id] = start(ms[0])
	deadline = time.Now().Add(20 * time.Second)
	for {
		code, o, _ := admin(ms[0], "communes", "list")
		if code == 0 && strings.Contains(o, "Ba Đình") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("restarted member did not serve the registry: %s", o)
		}
		time.Sleep(100 * time.Millisecond) // polling for the restart, bounded by the deadline
	}
	if strings.Contains(procs[ms[0].id].logs.String(), "bootstrapped a new cluster") {
		t.Fatal("the restarted member bootstrapped again")
	}
	stopAll()

	// Each member's state is encrypted with its own key, made at its first
	// start: the commune's name is nowhere in the state's files.
	for _, m := range ms {
		st, err := os.Stat(stateKey[m.id])
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("%s's state key: %v %v", m.id, st, err)
		}
		filepath.WalkDir(filepath.Join(dir, m.id, "state"), func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			if b, _ := os.ReadFile(path); bytes.Contains(b, []byte("Phường Ba Đình")) {
				t.Errorf("%s holds the commune's name in clear", path)
			}
			return nil
		})
	}
}

func TestCentralBadConfigNamesTheKey(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "central.yaml")
	os.WriteFile(bad, []byte("id: central-1\nraft_lisen: ':7000'\n"), 0o600)
	tests := []struct {
		args []string
		key  string
	}{
		{[]string{"central", "--id", "central 1"}, "id"},
		{[]string{"central", "--id", "c1", "--bootstrap", "c1@host"}, "bootstrap"},
		{[]string{"central", "--id", "c1", "--election-timeout", "soon"}, "election_timeout"},
		{[]string{"central", "--id", "c1"}, "ca_file"},
		{[]string{"central", "--id", "c1", "--snapshot-interval", "often"}, "snapshot_interval"},
		{[]string{"central", "--id", "c1", "--snapshot-interval", "10ms"}, "snapshot_interval"},
		{[]string{"central", "--id", "c1", "--grpc-reflection", "perhaps"}, "grpc_reflection"},
		{[]string{"central", "--config", bad}, "raft_lisen"},
		{[]string{"check-config", "--kind", "central", bad}, "raft_lisen"},
	}
	for _, tc := range tests {
		code, _, stderr := runCmd(t, tc.args...)
		if code == 0 || !strings.Contains(stderr, tc.key) || strings.Count(strings.TrimSpace(stderr), "\n") > 0 {
			t.Errorf("%v: exit %d, stderr %q; want one line naming %s", tc.args, code, stderr, tc.key)
		}
	}
}

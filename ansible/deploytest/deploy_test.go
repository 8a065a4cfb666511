package deploytest

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"

	xasov1 "github.com/xaso/xaso/api/proto/xaso/v1"
	"github.com/xaso/xaso/central"
	"github.com/xaso/xaso/node"
	"github.com/xaso/xaso/pki"
	"github.com/xaso/xaso/sample"
	"github.com/xaso/xaso/workload"
)

// electionTimeout is the members' (the role's default).
const electionTimeout = time.Second

// deployment is the province the test deploys to.
type deployment struct {
	t        *testing.T
	ansible  string // the ansible/ folder
	inv      string // the test's inventory folder
	network  string
	members  []host
	nodes    []host
	communes []sample.Commune
	// bootstrap is the members' bootstrap token; token the secret of the
	// deployment's operator token, which the role makes with it; records
	// a records officer's token the test makes to read dossiers.
	bootstrap, token, records string
	roots                     *x509.CertPool
	// nodeTokens are the simulated officials' node API tokens, in every
	// node's tokens file through the inventory (tokenEntries).
	nodeTokens   workload.Tokens
	tokenEntries []node.Token
}

// playbook runs one of ../*.yml against the test's inventory.
func (d *deployment) playbook(ctx context.Context, name string, extra ...string) (map[string]recap, string, error) {
	args := append([]string{"-i", filepath.Join(d.inv, "hosts.yml"), name}, extra...)
	out, err := sh(ctx, d.ansible, []string{"ANSIBLE_CONFIG=" + filepath.Join(d.ansible, "ansible.cfg"), "ANSIBLE_NOCOLOR=1", "ANSIBLE_FORCE_COLOR=0"},
		"ansible-playbook", args...)
	return parseRecap(out), out, err
}

// TestDeploy deploys a province of three central members and two commune
// nodes with site.yml, and then checks what a field engineer relies on.
func TestDeploy(t *testing.T) {
	if os.Getenv("XASO_ANSIBLE") == "" {
		t.Skip("XASO_ANSIBLE=1 runs the Ansible deployment tests (make ansible-test)")
	}
	ctx := context.Background()
	ansibleDir, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}

	// Lint and syntax, as the production profile wants them.
	if _, err := sh(ctx, ansibleDir, nil, "ansible-lint", "--offline", "--profile", "production", "--nocolor"); err != nil {
		t.Fatalf("ansible-lint: %v", err)
	}
	for _, p := range []string{"site.yml", "central.yml", "node.yml", "upgrade.yml", "backup-node.yml", "replace-node.yml"} {
		if _, err := sh(ctx, ansibleDir, nil, "ansible-playbook", "--syntax-check", "-i", "inventory/example/hosts.yml", p); err != nil {
			t.Fatalf("syntax: %v", err)
		}
	}

	// Two builds: the one deployed and the one the upgrade brings.
	dir := t.TempDir()
	bins := map[string]string{}
	for _, v := range []string{"deploy-1", "deploy-2"} {
		bins[v] = filepath.Join(dir, "xaso-"+v)
		if _, err := sh(ctx, "", []string{"CGO_ENABLED=0"}, "go", "build", "-trimpath", "-ldflags", "-X main.version="+v, "-o", bins[v], "../../cmd/xaso"); err != nil {
			t.Fatal(err)
		}
	}
	buildHostImage(ctx, t)

	run := fmt.Sprintf("xd%d", time.Now().UnixNano()%1_000_000)
	d := &deployment{t: t, ansible: ansibleDir, inv: filepath.Join(dir, "inventory"), network: run + "-net", communes: sample.SampleProvince().Communes[:2]}
	if _, err := docker(ctx, "network", "create", "--internal", d.network); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			d.keepLogs()
			if os.Getenv("XASO_ANSIBLE_KEEP") != "" {
				t.Logf("containers kept: %s-*", run)
				return
			}
		}
		for _, h := range append(append([]host{}, d.members...), d.nodes...) {
			docker(context.Background(), "rm", "-f", h.container)
		}
		docker(context.Background(), "network", "rm", d.network)
	})
	for i := range 3 {
		h, err := startHost(ctx, run, d.network, fmt.Sprintf("central-%d", i+1))
		if err != nil {
			t.Fatal(err)
		}
		d.members = append(d.members, h)
	}
	for _, c := range d.communes {
		h, err := startHost(ctx, run, d.network, "xa-"+c.Code)
		if err != nil {
			t.Fatal(err)
		}
		d.nodes = append(d.nodes, h)
	}
	if err := d.writeInventory(ctx, bins["deploy-1"]); err != nil {
		t.Fatal(err)
	}

	// Converge, then again with nothing to change, then check mode.
	start := time.Now()
	if _, out, err := d.playbook(ctx, "site.yml"); err != nil {
		t.Fatalf("converge: %v", err)
	} else {
		t.Logf("converge in %v:\n%s", time.Since(start).Round(time.Second), lastLines(out, 8))
	}
	for _, mode := range [][]string{nil, {"--check", "--diff"}} {
		rc, out, err := d.playbook(ctx, "site.yml", mode...)
		if err != nil {
			t.Fatalf("site.yml %v: %v", mode, err)
		}
		if len(rc) != 5 {
			t.Fatalf("site.yml %v: recap of %d hosts: %s", mode, len(rc), lastLines(out, 10))
		}
		for h, r := range rc {
			if r.changed != 0 || r.failed != 0 {
				t.Errorf("site.yml %v again: %s changed=%d failed=%d\n%s", mode, h, r.changed, r.failed, changedTasks(out))
			}
		}
	}

	leader := d.checkLeader(ctx)
	t.Logf("leader %s", leader)
	d.checkJoin(ctx, run, bins["deploy-1"])
	code := d.checkDossierReachesCentral(ctx, 0)
	d.checkHardening(ctx)
	d.checkEncryptionAtRest(ctx, code)

	// A host restart: the services come back by themselves.
	if _, err := docker(ctx, "restart", d.members[1].container, d.nodes[0].container); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		h    host
		unit string
	}{{d.members[1], "xaso-central"}, {d.nodes[0], "xaso-node"}} {
		if err := waitFor(ctx, time.Minute, c.h.name+" "+c.unit+" after a restart", func() (bool, string) {
			out, err := c.h.exec(ctx, "systemctl", "is-active", c.unit)
			return err == nil && out == "active", out
		}); err != nil {
			t.Fatal(err)
		}
	}
	d.checkLeader(ctx)
	d.checkDossierAtNode(ctx, 0, code)
	d.checkDossierReachesCentral(ctx, 0)

	d.checkBackup(ctx)
	d.checkRollingUpgrade(ctx, bins["deploy-2"])
	d.checkReplaceNode(ctx, 1, run, bins["deploy-2"])
}

// checkReplaceNode destroys the i-th node's machine, brings up a new one
// under the same name and runs replace-node.yml for it: the commune's
// dossiers and hash chain come back from central, and work goes on.
func (d *deployment) checkReplaceNode(ctx context.Context, i int, run, bin string) {
	d.t.Helper()
	api, closeConn, err := d.nodeAPI(ctx, i)
	if err != nil {
		d.t.Fatal(err)
	}
	before := map[string]*xasov1.Dossier{}
	list, err := api.ListDossiers(ctx, &xasov1.ListDossiersRequest{PageSize: 500})
	if err != nil {
		d.t.Fatal(err)
	}
	for _, x := range list.GetDossiers() {
		full, err := api.GetDossier(ctx, &xasov1.GetDossierRequest{Code: x.GetCode()})
		if err != nil {
			d.t.Fatal(err)
		}
		before[x.GetCode()] = full.GetDossier()
	}
	chk, err := api.CheckStore(ctx, &xasov1.CheckStoreRequest{})
	if err != nil || len(before) == 0 {
		closeConn()
		d.t.Fatalf("before the replacement: %d dossiers, %v", len(before), err)
	}
	// Those reads are in the node's access log, on their way to central:
	// the machine dies once central holds its whole chain.
	deadline := time.Now().Add(time.Minute)
	for {
		st, err := api.GetSyncStatus(ctx, &xasov1.GetSyncStatusRequest{})
		if err == nil && st.GetPendingEvents() == 0 && st.GetAckedSequence() == chk.GetLastSequence() {
			break
		}
		if time.Now().After(deadline) {
			closeConn()
			d.t.Fatalf("the node's chain did not reach central within a minute: %v %v", st, err)
		}
		time.Sleep(200 * time.Millisecond) // polling, bounded by the deadline
	}
	closeConn()

	if _, err := docker(ctx, "rm", "-f", d.nodes[i].container); err != nil {
		d.t.Fatal(err)
	}
	h, err := startHost(ctx, run, d.network, d.nodes[i].name)
	if err != nil {
		d.t.Fatal(err)
	}
	d.nodes[i] = h
	start := time.Now()
	if _, out, err := d.playbook(ctx, "replace-node.yml", "--limit", h.name, "-e", "xaso_common_binary_src="+bin); err != nil {
		d.t.Fatalf("replace-node: %v", err)
	} else {
		d.t.Logf("replace-node in %v:\n%s", time.Since(start).Round(time.Second), lastLines(out, 4))
	}
	api, closeConn, err = d.nodeAPI(ctx, i)
	if err != nil {
		d.t.Fatal(err)
	}
	defer closeConn()
	got, err := api.CheckStore(ctx, &xasov1.CheckStoreRequest{})
	if err != nil || !got.GetOk() || got.GetLastSequence() != chk.GetLastSequence() || !bytes.Equal(got.GetHeadHash(), chk.GetHeadHash()) {
		d.t.Fatalf("restored store: %v %v; the dead machine's ended at %d", got, err, chk.GetLastSequence())
	}
	for code, want := range before {
		full, err := api.GetDossier(ctx, &xasov1.GetDossierRequest{Code: code})
		if err != nil || !proto.Equal(full.GetDossier(), want) {
			d.t.Errorf("%s after the replacement: %v %v", code, full.GetDossier(), err)
		}
	}
	d.checkDossierReachesCentral(ctx, i)
}

// joiner is the member added to the running cluster.
const joiner = "central-4"

// writeInventory makes the PKI with `xaso admin pki` (certificates for the
// three members and the one that joins later) and an operator token, and
// writes the test's inventory.
func (d *deployment) writeInventory(ctx context.Context, bin string) error {
	pkiDir := filepath.Join(d.inv, "pki")
	if _, err := sh(ctx, "", nil, bin, "admin", "pki", "init", "--dir", pkiDir); err != nil {
		return err
	}
	for _, name := range []string{d.members[0].name, d.members[1].name, d.members[2].name, joiner} {
		if _, err := sh(ctx, "", nil, bin, "admin", "pki", "issue", name, "--dir", pkiDir, "--hosts", name+",localhost,127.0.0.1"); err != nil {
			return err
		}
	}
	caPEM, err := os.ReadFile(filepath.Join(pkiDir, "ca.crt"))
	if err != nil {
		return err
	}
	d.roots = x509.NewCertPool()
	d.roots.AppendCertsFromPEM(caPEM)
	for _, sec := range []*string{&d.bootstrap, &d.token, &d.records} {
		if *sec, _, err = pki.NewSecret(); err != nil {
			return err
		}
	}
	d.token, d.records = central.OperatorTokenPrefix+d.token, central.OperatorTokenPrefix+d.records
	return d.writeHosts(bin)
}

// writeHosts writes the inventory's hosts: the members (and extra ones,
// which join the running cluster) and the nodes, by container.
func (d *deployment) writeHosts(bin string, extra ...host) error {
	pkiDir := filepath.Join(d.inv, "pki")
	var b strings.Builder
	b.WriteString("all:\n  vars:\n    ansible_connection: community.docker.docker\n")
	fmt.Fprintf(&b, "    xaso_common_binary_src: %s\n", bin)
	b.WriteString("  children:\n    central:\n      vars:\n")
	fmt.Fprintf(&b, "        xaso_central_bootstrap_token: %q\n        xaso_central_operator_token: %q\n        xaso_central_pki_dir: %s\n", d.bootstrap, d.token, pkiDir)
	fmt.Fprintf(&b, "        xaso_central_initial_members: [%s, %s, %s]\n", d.members[0].name, d.members[1].name, d.members[2].name)
	// The nodes' certificates name their hosts, by which clients reach them.
	var nodeNames []string
	for _, n := range d.nodes {
		nodeNames = append(nodeNames, n.name)
	}
	fmt.Fprintf(&b, "        xaso_central_node_certificate_names: [%s]\n      hosts:\n", strings.Join(nodeNames, ", "))
	for _, m := range append(append([]host{}, d.members...), extra...) {
		fmt.Fprintf(&b, "        %s:\n          ansible_host: %s\n", m.name, m.container)
	}
	// The desk's users: the role writes the file and check-config reads it.
	hash, err := node.HashPassword("motcua-password")
	if err != nil {
		return err
	}
	fmt.Fprintf(&b, "    nodes:\n      vars:\n        xaso_node_users:\n          - {name: motcua, full_name: \"Cán bộ một cửa\", role: clerk, password_hash: %q}\n", hash)
	// The API's tokens: the simulated officials', made as a field engineer
	// makes them (hashes in the inventory, secrets kept by the test).
	if d.nodeTokens == nil {
		d.nodeTokens = workload.Tokens{}
		dir, err := os.MkdirTemp("", "xaso-node-tokens-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		file := filepath.Join(dir, "tokens.yaml")
		for _, o := range workload.Officials() {
			out, err := sh(context.Background(), "", nil, bin, "admin", "node-token", "create", o.Name, "--role", strings.ToLower(strings.TrimPrefix(o.Role.String(), "ROLE_")), "--ttl", "24h", "--tokens-file", file)
			if err != nil {
				return err
			}
			d.nodeTokens[o.Name] = strings.TrimSpace(out)
		}
		data, err := os.ReadFile(file)
		if err != nil {
			return err
		}
		list, err := node.ParseTokens(data)
		if err != nil {
			return err
		}
		d.tokenEntries = list
	}
	b.WriteString("        xaso_node_tokens:\n")
	for _, t := range d.tokenEntries {
		fmt.Fprintf(&b, "          - {name: %s, role: %s, sha256: %s, expires: %q}\n", t.Name, t.Role, t.SHA256, t.Expires.Format(time.RFC3339))
	}
	b.WriteString("      hosts:\n")
	for i, n := range d.nodes {
		fmt.Fprintf(&b, "        %s:\n          ansible_host: %s\n          xaso_node_commune: %q\n          xaso_node_commune_name: %q\n",
			n.name, n.container, d.communes[i].Code, d.communes[i].Name)
	}
	if err := os.MkdirAll(d.inv, 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(d.inv, "hosts.yml"), []byte(b.String()), 0o644)
}

// checkJoin adds a fourth member with central.yml: it joins the running
// cluster through the leader as a voter; then it is removed again.
func (d *deployment) checkJoin(ctx context.Context, run, bin string) {
	d.t.Helper()
	h, err := startHost(ctx, run, d.network, joiner)
	if err != nil {
		d.t.Fatal(err)
	}
	defer docker(context.Background(), "rm", "-f", h.container)
	if err := d.writeHosts(bin, h); err != nil {
		d.t.Fatal(err)
	}
	if _, out, err := d.playbook(ctx, "central.yml", "--limit", joiner); err != nil {
		d.t.Fatalf("join: %v", err)
	} else if !strings.Contains(out, "Add this member as a voter through the leader") {
		d.t.Errorf("the joiner was not added through the leader:\n%s", lastLines(out, 20))
	}
	api, octx, closeConn, err := d.central(ctx, 0)
	if err != nil {
		d.t.Fatal(err)
	}
	defer closeConn()
	if err := waitFor(ctx, time.Minute, joiner+" a voter", func() (bool, string) {
		c, err := api.GetCluster(octx, &xasov1.GetClusterRequest{})
		if err != nil {
			return false, err.Error()
		}
		for _, m := range c.GetMembers() {
			if m.GetId() == joiner && m.GetSuffrage() == "Voter" {
				return len(c.GetMembers()) == 4, ""
			}
		}
		return false, fmt.Sprint(c.GetMembers())
	}); err != nil {
		d.t.Fatal(err)
	}
	if _, err := api.RemoveClusterMember(octx, &xasov1.RemoveClusterMemberRequest{Id: joiner}); err != nil {
		d.t.Fatalf("remove %s: %v", joiner, err)
	}
	if err := d.writeHosts(bin); err != nil {
		d.t.Fatal(err)
	}
}

// changedTasks picks the tasks a playbook's output reports as changed.
func changedTasks(out string) string {
	var keep []string
	task := ""
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "TASK [") {
			task = line
		}
		if strings.HasPrefix(line, "changed:") {
			keep = append(keep, task+" "+line)
		}
	}
	return strings.Join(keep, "\n")
}

// central dials a member's API as the operator.
func (d *deployment) central(ctx context.Context, i int) (xasov1.CentralServiceClient, context.Context, func(), error) {
	ip, err := d.members[i].ip(ctx, d.network)
	if err != nil {
		return nil, nil, nil, err
	}
	tc := &tls.Config{RootCAs: d.roots, ServerName: d.members[i].name, MinVersion: tls.VersionTLS13}
	conn, err := grpc.NewClient("passthrough:///"+net.JoinHostPort(ip, "8443"), grpc.WithTransportCredentials(credentials.NewTLS(tc)))
	if err != nil {
		return nil, nil, nil, err
	}
	octx := metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+d.token)
	return xasov1.NewCentralServiceClient(conn), octx, func() { conn.Close() }, nil
}

// nodeAPI dials a node's API.
func (d *deployment) nodeAPI(ctx context.Context, i int) (xasov1.NodeServiceClient, func(), error) {
	ip, err := d.nodes[i].ip(ctx, d.network)
	if err != nil {
		return nil, nil, err
	}
	// Over TLS, trusting the certificate central signed for the node's
	// name (it serves a self-signed one until it has enrolled).
	tc := &tls.Config{RootCAs: d.roots, ServerName: d.nodes[i].name, MinVersion: tls.VersionTLS12}
	conn, err := grpc.NewClient("passthrough:///"+net.JoinHostPort(ip, "8080"), grpc.WithTransportCredentials(credentials.NewTLS(tc)),
		grpc.WithAuthority(d.nodes[i].name),
		grpc.WithUnaryInterceptor(d.nodeTokens.Interceptor(workload.Leader)))
	if err != nil {
		return nil, nil, err
	}
	return xasov1.NewNodeServiceClient(conn), func() { conn.Close() }, nil
}

// checkLeader waits until every member names the same leader, with three
// voters, and returns it.
func (d *deployment) checkLeader(ctx context.Context) string {
	d.t.Helper()
	leader := ""
	err := waitFor(ctx, time.Minute, "a leader every member knows", func() (bool, string) {
		leaders := map[string]bool{}
		for i := range d.members {
			api, octx, closeConn, err := d.central(ctx, i)
			if err != nil {
				return false, err.Error()
			}
			cctx, cancel := context.WithTimeout(octx, 3*time.Second)
			c, err := api.GetCluster(cctx, &xasov1.GetClusterRequest{})
			cancel()
			closeConn()
			if err != nil {
				return false, err.Error()
			}
			if len(c.GetMembers()) != 3 {
				return false, fmt.Sprint(c.GetMembers())
			}
			leaders[c.GetLeaderId()] = true
			leader = c.GetLeaderId()
		}
		return len(leaders) == 1 && leader != "", fmt.Sprint(leaders)
	})
	if err != nil {
		d.t.Fatal(err)
	}
	return leader
}

// checkDossierReachesCentral receives a dossier at the i-th node and waits
// until central holds it; it returns the dossier's code.
func (d *deployment) checkDossierReachesCentral(ctx context.Context, i int) string {
	d.t.Helper()
	api, closeConn, err := d.nodeAPI(ctx, i)
	if err != nil {
		d.t.Fatal(err)
	}
	defer closeConn()
	var created *xasov1.Dossier
	if err := waitFor(ctx, time.Minute, "a dossier received at "+d.nodes[i].name, func() (bool, string) {
		w := workload.New(workload.Remote(api, d.nodeTokens), uint64(time.Now().UnixNano()), slog.New(slog.DiscardHandler))
		if err := w.Step(ctx); err != nil {
			return false, err.Error()
		}
		r, err := api.ListDossiers(ctx, &xasov1.ListDossiersRequest{PageSize: 1, Filter: "state = RECEIVED"})
		if err != nil || len(r.GetDossiers()) == 0 {
			return false, fmt.Sprint(r, err)
		}
		created = r.GetDossiers()[0]
		return true, ""
	}); err != nil {
		d.t.Fatal(err)
	}
	c, octx, closeC, err := d.central(ctx, 0)
	if err != nil {
		d.t.Fatal(err)
	}
	defer closeC()
	// Dossiers are a records officer's to read: the deployment's operator
	// makes the token (its secret the test's, so that a retry is harmless).
	rctx := metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+d.records)
	if err := waitFor(ctx, time.Minute, "a records officer's token", func() (bool, string) {
		if _, err := c.GetCluster(rctx, &xasov1.GetClusterRequest{}); err == nil {
			return true, ""
		}
		_, err := c.CreateOperatorToken(octx, &xasov1.CreateOperatorTokenRequest{Name: "kiem-thu-ho-so", Role: xasov1.OperatorRole_OPERATOR_ROLE_RECORDS, Secret: d.records})
		return err == nil, fmt.Sprint(err)
	}); err != nil {
		d.t.Fatal(err)
	}
	if err := waitFor(ctx, time.Minute, created.GetCode()+" at central", func() (bool, string) {
		r, err := c.GetProvinceDossier(rctx, &xasov1.GetProvinceDossierRequest{Code: created.GetCode()})
		return err == nil && r.GetDossier().GetCode() == created.GetCode(), fmt.Sprint(err)
	}); err != nil {
		d.t.Fatal(err)
	}
	return created.GetCode()
}

// checkDossierAtNode says the i-th node still holds code.
func (d *deployment) checkDossierAtNode(ctx context.Context, i int, code string) {
	d.t.Helper()
	api, closeConn, err := d.nodeAPI(ctx, i)
	if err != nil {
		d.t.Fatal(err)
	}
	defer closeConn()
	if err := waitFor(ctx, time.Minute, code+" at "+d.nodes[i].name, func() (bool, string) {
		_, err := api.GetDossier(ctx, &xasov1.GetDossierRequest{Code: code})
		return err == nil, fmt.Sprint(err)
	}); err != nil {
		d.t.Fatal(err)
	}
}

// checkEncryptionAtRest checks the stores' keys (generated on the host,
// the service's alone) and that the stores hold no known text in clear:
// the applicant of the dossier code at the first node, the commune's name
// at the first member, which the Raft log (not encrypted by xaso) holds.
func (d *deployment) checkEncryptionAtRest(ctx context.Context, code string) {
	d.t.Helper()
	api, closeConn, err := d.nodeAPI(ctx, 0)
	if err != nil {
		d.t.Fatal(err)
	}
	got, err := api.GetDossier(ctx, &xasov1.GetDossierRequest{Code: code})
	closeConn()
	if err != nil {
		d.t.Fatal(err)
	}
	applicant := got.GetDossier().GetApplicant().GetFullName()
	commune := d.communes[0].Name
	for _, c := range []struct {
		h                host
		key, store, text string
	}{{d.nodes[0], "/etc/xaso/node.key", "/var/lib/xaso/node", applicant}, {d.members[0], "/etc/xaso/state.key", "/var/lib/xaso/central/state", commune}} {
		if out, err := c.h.exec(ctx, "stat", "-c", "%U:%G %a %s", c.key); err != nil || out != "xaso:xaso 600 64" {
			d.t.Errorf("%s %s: %q %v, want xaso:xaso 600, 64 hex digits", c.h.name, c.key, out, err)
		}
		if out, err := c.h.exec(ctx, "grep", "-c", "Hello Badger", c.store+"/KEYREGISTRY"); err == nil || out != "0" {
			d.t.Errorf("%s: the store in %s is not encrypted (%q %v)", c.h.name, c.store, out, err)
		}
		if c.text == "" {
			d.t.Fatalf("no text to look for in %s", c.store)
		}
		if out, err := c.h.exec(ctx, "grep", "-rlF", c.text, c.store); err == nil || out != "" {
			d.t.Errorf("%s: %q lies in clear in %s", c.h.name, c.text, out)
		}
	}
	// The test looks for the right bytes: the Raft log, which the disk must
	// protect, holds the commune's name.
	if out, err := d.members[0].exec(ctx, "grep", "-rlF", commune, "/var/lib/xaso/central/raft"); err != nil || out == "" {
		d.t.Errorf("the Raft log does not hold %q (%q %v): the check above looks for the wrong bytes", commune, out, err)
	}
}

// checkHardening reads the units' settings from systemd and the running
// processes' credentials from the kernel.
func (d *deployment) checkHardening(ctx context.Context) {
	d.t.Helper()
	for _, c := range []struct {
		h          host
		unit, data string
	}{{d.members[0], "xaso-central", "/var/lib/xaso/central"}, {d.nodes[0], "xaso-node", "/var/lib/xaso/node"}} {
		out, err := c.h.exec(ctx, "systemctl", "show", c.unit, "-p", "ProtectSystem,NoNewPrivileges,PrivateTmp,PrivateDevices,ProtectHome,CapabilityBoundingSet,ReadWritePaths,User,MainPID,ActiveState")
		if err != nil {
			d.t.Fatal(err)
		}
		got := map[string]string{}
		for _, line := range strings.Split(out, "\n") {
			k, v, _ := strings.Cut(line, "=")
			got[k] = v
		}
		for k, want := range map[string]string{"ProtectSystem": "strict", "NoNewPrivileges": "yes", "PrivateTmp": "yes", "PrivateDevices": "yes",
			"ProtectHome": "yes", "CapabilityBoundingSet": "", "ReadWritePaths": c.data, "User": "xaso", "ActiveState": "active"} {
			if got[k] != want {
				d.t.Errorf("%s %s: %s=%q, want %q", c.h.name, c.unit, k, got[k], want)
			}
		}
		status, err := c.h.exec(ctx, "cat", "/proc/"+got["MainPID"]+"/status")
		if err != nil {
			d.t.Fatal(err)
		}
		for _, line := range strings.Split(status, "\n") {
			f := strings.Fields(line)
			switch {
			case len(f) > 1 && f[0] == "CapEff:" && strings.Trim(f[1], "0") != "":
				d.t.Errorf("%s %s runs with capabilities %s", c.h.name, c.unit, f[1])
			case len(f) > 1 && f[0] == "NoNewPrivs:" && f[1] != "1":
				d.t.Errorf("%s %s may gain privileges", c.h.name, c.unit)
			case len(f) > 1 && f[0] == "Uid:" && f[1] == "0":
				d.t.Errorf("%s %s runs as root", c.h.name, c.unit)
			}
		}
		// The service cannot write outside its data directory.
		if _, err := c.h.exec(ctx, "nsenter", "-t", got["MainPID"], "-m", "touch", "/etc/xaso/probe"); err == nil {
			c.h.exec(ctx, "rm", "-f", "/etc/xaso/probe")
			d.t.Errorf("%s %s: /etc is writable in the service's mount namespace", c.h.name, c.unit)
		}
	}
}

// checkBackup runs backup-node.yml and looks at what it fetched.
func (d *deployment) checkBackup(ctx context.Context) {
	d.t.Helper()
	rc, _, err := d.playbook(ctx, "backup-node.yml")
	if err != nil {
		d.t.Fatalf("backup: %v", err)
	}
	for _, n := range d.nodes {
		if rc[n.name].failed != 0 {
			d.t.Errorf("backup of %s failed", n.name)
		}
		found, _ := filepath.Glob(filepath.Join(d.inv, "backups", n.name+"-*.tar.gz"))
		if len(found) != 1 {
			d.t.Errorf("backup of %s: %v", n.name, found)
			continue
		}
		if st, err := os.Stat(found[0]); err != nil || st.Size() < 1024 {
			d.t.Errorf("backup of %s: %v %v", n.name, st, err)
		}
		if out, err := n.exec(ctx, "systemctl", "is-active", "xaso-node"); out != "active" {
			d.t.Errorf("%s after the backup: %s %v", n.name, out, err)
		}
	}
}

// checkRollingUpgrade runs upgrade.yml with a new build while an operator
// keeps writing and every member is watched.
func (d *deployment) checkRollingUpgrade(ctx context.Context, bin string) {
	d.t.Helper()
	wctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup

	// Watch: each member's API, every 100 ms.
	type sample struct {
		at   time.Time
		down []string
	}
	var mu sync.Mutex
	var samples []sample
	wg.Add(1)
	go func() {
		defer wg.Done()
		for wctx.Err() == nil {
			s := sample{at: time.Now()}
			for i, m := range d.members {
				api, octx, closeConn, err := d.central(wctx, i)
				if err == nil {
					cctx, cancel := context.WithTimeout(octx, time.Second)
					_, err = api.GetCluster(cctx, &xasov1.GetClusterRequest{})
					cancel()
					closeConn()
				}
				if err != nil && wctx.Err() == nil {
					s.down = append(s.down, m.name)
				}
			}
			mu.Lock()
			samples = append(samples, s)
			mu.Unlock()
			time.Sleep(100 * time.Millisecond) // sampling pace
		}
	}()

	// Write: a commune renamed every 100 ms, through any member; the
	// longest run of refusals is what operators would see.
	var longest time.Duration
	var writes, refused int
	wg.Add(1)
	go func() {
		defer wg.Done()
		var firstRefusal time.Time
		for k := 0; wctx.Err() == nil; k++ {
			ok := false
			for i := range d.members {
				api, octx, closeConn, err := d.central(wctx, (k+i)%len(d.members))
				if err != nil {
					continue
				}
				cctx, cancel := context.WithTimeout(octx, 2*time.Second)
				_, err = api.PutCommune(cctx, &xasov1.PutCommuneRequest{Commune: &xasov1.Commune{Code: d.communes[0].Code, Name: fmt.Sprintf("%s (%d)", d.communes[0].Name, k)}})
				cancel()
				closeConn()
				if err == nil {
					ok = true
					break
				}
			}
			if wctx.Err() != nil {
				break
			}
			mu.Lock()
			writes++
			switch {
			case ok && !firstRefusal.IsZero():
				longest = max(longest, time.Since(firstRefusal))
				firstRefusal = time.Time{}
			case !ok:
				refused++
				if firstRefusal.IsZero() {
					firstRefusal = time.Now()
				}
			}
			mu.Unlock()
			time.Sleep(100 * time.Millisecond) // an operator's pace
		}
	}()

	start := time.Now()
	_, out, err := d.playbook(ctx, "upgrade.yml", "-e", "xaso_common_binary_src="+bin)
	stop()
	wg.Wait()
	if err != nil {
		d.t.Fatalf("upgrade: %v", err)
	}
	oneDown := 0
	for _, s := range samples {
		if len(s.down) == 1 {
			oneDown++
		}
	}
	d.t.Logf("rolling upgrade in %v: %d writes, %d refused, longest refusal %v; %d of %d samples saw one member down",
		time.Since(start).Round(time.Second), writes, refused, longest, oneDown, len(samples))
	if oneDown == 0 {
		d.t.Error("the watch never saw a member down: it cannot have watched")
	}
	if strings.Count(out, "Restart xaso-central") < 3 {
		d.t.Errorf("upgrade restarted fewer than three members:\n%s", changedTasks(out))
	}
	for _, s := range samples {
		if len(s.down) > 1 {
			d.t.Errorf("at %s, %v were down together", s.at.Format(time.TimeOnly), s.down)
		}
	}
	// One election: a randomized timeout between one and two election
	// timeouts, and the vote.
	if longest > 2*electionTimeout+time.Second {
		d.t.Errorf("writes refused for %v, longer than an election", longest)
	}
	for _, h := range append(append([]host{}, d.members...), d.nodes...) {
		v, err := h.exec(ctx, "/usr/local/bin/xaso", "version")
		if err != nil || v != "xaso deploy-2" {
			d.t.Errorf("%s runs %q after the upgrade (%v)", h.name, v, err)
		}
	}
	d.checkLeader(ctx)
	d.checkDossierReachesCentral(ctx, 1)
}

// keepLogs saves the services' journals of a failing run.
func (d *deployment) keepLogs() {
	out := filepath.Join("..", "..", "ansible-out")
	if err := os.MkdirAll(out, 0o755); err != nil {
		return
	}
	for _, h := range append(append([]host{}, d.members...), d.nodes...) {
		j, _ := h.exec(context.Background(), "journalctl", "--no-pager", "-u", "xaso-central", "-u", "xaso-node")
		os.WriteFile(filepath.Join(out, h.name+".log"), []byte(j), 0o644)
	}
	b, _ := json.Marshal(map[string]string{"inventory": d.inv})
	os.WriteFile(filepath.Join(out, "run.json"), b, 0o644)
	d.t.Logf("journals kept in %s", out)
}

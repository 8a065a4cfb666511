package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	xasov1 "github.com/xaso/xaso/api/proto/xaso/v1"
	"github.com/xaso/xaso/central"
	"github.com/xaso/xaso/dossier"
	"github.com/xaso/xaso/pki"
)

const adminCentralUsage = `usage: xaso admin [--central HOST:PORT --ca FILE --token-file FILE] COMMAND

commands against the central cluster (any member; writes reach the leader):
  cluster status                 members, leader, term, applied index
  cluster join ID RAFT_ADDR      add a voter
  cluster remove ID              remove a member
  cluster transfer-leader        hand leadership to another voter
  cluster snapshot               snapshot the answering member now
  communes list                  the communes registry
  communes put CODE NAME [AGENCY_ID]
                                 register or rename a commune; AGENCY_ID, its
                                 agency's e-ID that dossier codes begin with
                                 (kept when not given)
  units load FILE.tsv            put the administrative units' history from a
                                 list in the shape of units-2025.tsv (one
                                 commune record per code, named as its
                                 latest version; registers new codes)
  units show CODE [--at YYYY-MM-DD]
                                 the unit the code names on the day (today by
                                 default), or the units carrying on its
                                 territory once it has ended
  units history CODE             the unit's versions, oldest first
  communes settings CODE [--bandwidth-kbit N] [--upload-window HH:MM-HH:MM]
                                 how the commune's node syncs (sent to it)
  token create NAME --role R [--ttl D] [--secret-file F]
                                 an operator token; R: viewer (reports,
                                 registry, catalogue, calendar, cluster,
                                 nodes), records (also dossiers with personal
                                 data and their files) or operator (writes and
                                 administration; no personal data); D: its
                                 life, default 2160h (90 days), at most 8784h;
                                 its secret is shown once, or with
                                 --secret-file kept in F (made there first when
                                 F does not exist: a lost answer loses nothing)
  token list                     the tokens, with their expiry (never secrets)
  token delete NAME              revoke a token
  enroll COMMUNE [--ttl D]       a one-time enrollment token for a commune's node
                                 (default 168h, at most 720h)
  nodes [list]                   enrolled nodes: acknowledged events, lag, last contact
  nodes revoke NODE_ID           refuse a node (a stolen or retired machine)
  communes unblock CODE SEQUENCE let the commune's chain go on from the record
                                 central refused (nodes list shows it; see
                                 docs/deploy.md before you do)
  succession declare --from CODE,… --to CODE --at TIME --basis TEXT
                                 the communes --from cease in favour of --to
                                 at TIME (RFC 3339, or YYYY-MM-DD: midnight in
                                 Vietnam), by the act TEXT; see docs/mergers.md
  report indicators --from YYYY-MM --to YYYY-MM [--by commune,procedure,month]
                 [--commune C,…] [--procedure P,…] [--json]
                                 the Decision 766/QĐ-TTg indicators and the
                                 period view (carried over, received,
                                 resolved, pending at the end); formulas in
                                 docs/indicators.md
  access-log COMMUNE [--dossier CODE] [--page-token T]
                                 who read which dossiers' personal data at the
                                 commune's node, newest first (a page of 100;
                                 next_page_token continues)

the province's certificates (offline, on the operator's machine):
  pki init --dir D               a new CA in D (ca.crt, ca.key)
  pki issue NAME --dir D --hosts H,…   a member's certificate (never install one on a
                                 node: a node gets its own at enrollment)
`

// centralFlags are the connection flags of the central commands.
type centralConn struct {
	addr, caFile, tokenFile *string
	timeout                 *time.Duration
}

func isCentralCommand(cmd string) bool {
	switch cmd {
	case "cluster", "communes", "units", "token", "enroll", "nodes", "pki", "access-log", "report", "succession":
		return true
	}
	return false
}

func runAdminCentral(ctx context.Context, cc centralConn, cmd string, rest []string, stdout, stderr io.Writer) error {
	if cmd == "pki" {
		return runPKI(rest, stdout, stderr)
	}
	ctx, cancel := context.WithTimeout(ctx, *cc.timeout)
	defer cancel()
	sub := flag.NewFlagSet("xaso admin "+cmd, flag.ContinueOnError)
	role := sub.String("role", "", "token create: viewer, records or operator")
	ttl := sub.Duration("ttl", 0, "token create, enroll: how long the token is valid (default: 90 days for an operator token, 7 days for an enrollment token)")
	secretFile := sub.String("secret-file", "", "token create: the file holding the token's secret, made there first when it does not exist")
	kbit := sub.Int64("bandwidth-kbit", 0, "communes settings: cap on what the node sends, kbit/s (0: none)")
	window := sub.String("upload-window", "", "communes settings: when files may be sent, HH:MM-HH:MM Vietnam time (empty: always)")
	dossierCode := sub.String("dossier", "", "access-log: only the entries that name this dossier")
	pageToken := sub.String("page-token", "", "access-log: the next_page_token of the page before")
	fromMonth := sub.String("from", "", "report: first month, YYYY-MM; succession declare: the communes that cease (comma-separated codes)")
	toMonth := sub.String("to", "", "report: last month, YYYY-MM (default: the first); succession declare: the successor's code")
	by := sub.String("by", "", "report: group by commune, procedure, month (comma-separated; none: the province)")
	communes := sub.String("commune", "", "report: only these communes (comma-separated codes)")
	procedures := sub.String("procedure", "", "report: only these procedures (comma-separated codes)")
	at := sub.String("at", "", "units show: the day, YYYY-MM-DD (default: today in Vietnam); succession declare: the effective time, RFC 3339 or YYYY-MM-DD (midnight in Vietnam)")
	basis := sub.String("basis", "", "succession declare: the act that decides it, e.g. \"Nghị quyết số 1656/NQ-UBTVQH15\"")
	asJSON := sub.Bool("json", false, "report: the answer as JSON instead of a table")
	args, err := parseInterleaved(sub, rest, stderr)
	if err != nil {
		return err
	}
	need := func(n int, usage string) error {
		if len(args) != n {
			fmt.Fprintln(stderr, "usage: xaso admin "+usage)
			return errUsage
		}
		return nil
	}
	api, closeConn, err := dialCentral(cc)
	if err != nil {
		return err
	}
	defer closeConn()
	ctx, err = withToken(ctx, *cc.tokenFile)
	if err != nil {
		return err
	}
	var resp proto.Message
	switch cmd + " " + first(args) {
	case "cluster status":
		if err := need(1, "cluster status"); err != nil {
			return err
		}
		resp, err = api.GetCluster(ctx, &xasov1.GetClusterRequest{})
	case "cluster join":
		if err := need(3, "cluster join ID RAFT_ADDR"); err != nil {
			return err
		}
		resp, err = api.AddClusterMember(ctx, &xasov1.AddClusterMemberRequest{Id: args[1], RaftAddress: args[2]})
	case "cluster remove":
		if err := need(2, "cluster remove ID"); err != nil {
			return err
		}
		resp, err = api.RemoveClusterMember(ctx, &xasov1.RemoveClusterMemberRequest{Id: args[1]})
	case "cluster transfer-leader":
		resp, err = api.TransferLeadership(ctx, &xasov1.TransferLeadershipRequest{})
	case "cluster snapshot":
		resp, err = api.TakeSnapshot(ctx, &xasov1.TakeSnapshotRequest{})
	case "nodes ", "nodes list":
		resp, err = api.ListNodes(ctx, &xasov1.ListNodesRequest{})
	case "nodes revoke":
		if err := need(2, "nodes revoke NODE_ID"); err != nil {
			return err
		}
		resp, err = api.RevokeNode(ctx, &xasov1.RevokeNodeRequest{NodeId: args[1]})
	case "communes list":
		resp, err = api.ListCommunes(ctx, &xasov1.ListCommunesRequest{})
	case "communes put":
		if len(args) != 4 {
			if err := need(3, "communes put CODE NAME [AGENCY_ID]"); err != nil {
				return err
			}
		}
		cm := &xasov1.Commune{Code: args[1], Name: args[2]}
		if len(args) > 3 {
			cm.AgencyId = args[3]
		}
		resp, err = api.PutCommune(ctx, &xasov1.PutCommuneRequest{Commune: cm})
	case "units load":
		if err := need(2, "units load FILE.tsv"); err != nil {
			return err
		}
		return loadUnits(ctx, api, args[1], stdout)
	case "units show":
		if err := need(2, "units show CODE [--at YYYY-MM-DD]"); err != nil {
			return err
		}
		resp, err = api.UnitAt(ctx, &xasov1.UnitAtRequest{Code: args[1], At: *at})
	case "units history":
		if err := need(2, "units history CODE"); err != nil {
			return err
		}
		resp, err = api.UnitHistory(ctx, &xasov1.UnitHistoryRequest{Code: args[1]})
	case "communes unblock":
		if err := need(3, "communes unblock CODE SEQUENCE"); err != nil {
			return err
		}
		seq, perr := strconv.ParseInt(args[2], 10, 64)
		if perr != nil || seq < 1 {
			return fmt.Errorf("communes unblock: SEQUENCE %q is not a record sequence (1 or more)", args[2])
		}
		resp, err = api.UnblockCommuneChain(ctx, &xasov1.UnblockCommuneChainRequest{CommuneCode: args[1], Sequence: seq})
	case "succession declare":
		if err := need(1, "succession declare --from CODE,CODE --to CODE --at TIME --basis TEXT"); err != nil {
			return err
		}
		eff, perr := time.Parse(time.RFC3339, *at)
		if perr != nil {
			if eff, perr = time.ParseInLocation("2006-01-02", *at, dossier.Zone); perr != nil {
				return fmt.Errorf("succession declare: --at %q is neither RFC 3339 nor YYYY-MM-DD", *at)
			}
		}
		resp, err = api.DeclareSuccession(ctx, &xasov1.DeclareSuccessionRequest{Succession: &xasov1.Succession{
			PredecessorCodes: strings.Split(*fromMonth, ","), SuccessorCode: *toMonth, EffectiveTime: timestamppb.New(eff), Basis: *basis}})
	case "communes settings":
		if err := need(2, "communes settings CODE [--bandwidth-kbit N] [--upload-window HH:MM-HH:MM]"); err != nil {
			return err
		}
		resp, err = api.UpdateCommuneSettings(ctx, &xasov1.UpdateCommuneSettingsRequest{CommuneCode: args[1],
			Settings: &xasov1.CommuneSettings{SyncBandwidthKbit: *kbit, SyncUploadWindow: *window}})
	case "token create":
		if err := need(2, "token create NAME --role viewer|records|operator [--ttl D] [--secret-file F]"); err != nil {
			return err
		}
		r := map[string]xasov1.OperatorRole{"viewer": xasov1.OperatorRole_OPERATOR_ROLE_VIEWER, "records": xasov1.OperatorRole_OPERATOR_ROLE_RECORDS,
			"operator": xasov1.OperatorRole_OPERATOR_ROLE_OPERATOR}[*role]
		if r == xasov1.OperatorRole_OPERATOR_ROLE_UNSPECIFIED {
			return fmt.Errorf("role: %q is not viewer, records or operator", *role)
		}
		req := &xasov1.CreateOperatorTokenRequest{Name: args[1], Role: r, TtlSeconds: int64(ttl.Seconds())}
		if *secretFile != "" {
			if req.Secret, err = tokenSecretFile(*secretFile); err != nil {
				return err
			}
		}
		resp, err = api.CreateOperatorToken(ctx, req)
		if err == nil && *secretFile != "" {
			fmt.Fprintf(stderr, "the token's secret is in %s\n", *secretFile)
		}
	case "token list":
		if err := need(1, "token list"); err != nil {
			return err
		}
		resp, err = api.ListOperatorTokens(ctx, &xasov1.ListOperatorTokensRequest{})
	case "report indicators":
		if err := need(1, "report indicators --from YYYY-MM --to YYYY-MM [--by commune,procedure,month] [--commune C,…] [--procedure P,…] [--json]"); err != nil {
			return err
		}
		if *toMonth == "" {
			*toMonth = *fromMonth
		}
		rep, rerr := api.GetPerformanceReport(ctx, &xasov1.GetPerformanceReportRequest{FromMonth: *fromMonth, ToMonth: *toMonth,
			GroupBy: splitList(*by), CommuneCodes: splitList(*communes), ProcedureCodes: splitList(*procedures), Indicators: true})
		if rerr != nil {
			return fmt.Errorf("report indicators: %w", rerr)
		}
		if !*asJSON {
			return printIndicators(stdout, rep.GetRows())
		}
		resp = rep
	case "token delete":
		if err := need(2, "token delete NAME"); err != nil {
			return err
		}
		resp, err = api.DeleteOperatorToken(ctx, &xasov1.DeleteOperatorTokenRequest{Name: args[1]})
	default:
		if cmd == "access-log" && len(args) == 1 {
			resp, err = api.ListAccessRecords(ctx, &xasov1.ListAccessRecordsRequest{CommuneCode: args[0], DossierCode: *dossierCode, PageToken: *pageToken})
			break
		}
		if cmd == "enroll" && len(args) == 1 {
			resp, err = api.CreateEnrollmentToken(ctx, &xasov1.CreateEnrollmentTokenRequest{CommuneCode: args[0], TtlSeconds: int64(ttl.Seconds())})
			break
		}
		fmt.Fprintf(stderr, "xaso admin: unknown command %q\n%s", strings.TrimSpace(cmd+" "+strings.Join(args, " ")), adminCentralUsage)
		return errUsage
	}
	if err != nil {
		return err
	}
	out, err := protojson.MarshalOptions{Multiline: true, UseProtoNames: true}.Marshal(resp)
	if err != nil {
		return fmt.Errorf("encode answer: %w", err)
	}
	fmt.Fprintln(stdout, string(out))
	return nil
}

// loadUnits puts the units' history of a list in the shape of
// units-2025.tsv, one commune record at a time; a commune's agency e-ID
// and settings are kept. It stops at the first refusal, saying which code.
func loadUnits(ctx context.Context, api xasov1.CentralServiceClient, file string, stdout io.Writer) error {
	data, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("units load: %w", err)
	}
	cs, err := central.CommunesFromUnitsTSV(data)
	if err != nil {
		return fmt.Errorf("units load %s: %w", file, err)
	}
	for i, cm := range cs {
		if _, err := api.PutCommune(ctx, &xasov1.PutCommuneRequest{Commune: cm}); err != nil {
			return fmt.Errorf("units load: commune %s (%d of %d; those before are stored): %w", cm.GetCode(), i+1, len(cs), err)
		}
	}
	fmt.Fprintf(stdout, "%d communes' unit history stored\n", len(cs))
	return nil
}

// tokenSecretFile returns the operator token secret in file, or makes one
// and writes it there (mode 0600, never over an existing file) before
// central is asked: should the answer be lost, the secret is not.
func tokenSecretFile(file string) (string, error) {
	if b, err := os.ReadFile(file); err == nil {
		secret := strings.TrimSpace(string(b))
		if !central.ValidOperatorSecret(secret) {
			return "", fmt.Errorf("secret-file: %s does not hold an operator token's secret (%s and 43 or more letters, digits, '-' or '_')", file, central.OperatorTokenPrefix)
		}
		return secret, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("secret-file: %w", err)
	}
	random, _, err := pki.NewSecret()
	if err != nil {
		return "", fmt.Errorf("secret-file: %w", err)
	}
	secret := central.OperatorTokenPrefix + random
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", fmt.Errorf("secret-file: %w", err)
	}
	if _, err := f.WriteString(secret + "\n"); err != nil {
		f.Close()
		return "", fmt.Errorf("secret-file: %w", err)
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("secret-file: %w", err)
	}
	return secret, nil
}

// parseInterleaved parses flags that may follow the words, as in
// "token create NAME --role viewer", and returns the words.
func parseInterleaved(fs *flag.FlagSet, args []string, stderr io.Writer) ([]string, error) {
	var words []string
	for {
		if err := parseFlags(fs, args, stderr); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return words, nil
		}
		words, args = append(words, fs.Arg(0)), fs.Args()[1:]
	}
}

func first(xs []string) string {
	if len(xs) == 0 {
		return ""
	}
	return xs[0]
}

func dialCentral(cc centralConn) (xasov1.CentralServiceClient, func(), error) {
	if *cc.caFile == "" {
		return nil, nil, errors.New("ca: the province CA certificate is required to reach central (--ca FILE)")
	}
	caPEM, err := os.ReadFile(*cc.caFile)
	if err != nil {
		return nil, nil, fmt.Errorf("ca: %w", err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		return nil, nil, fmt.Errorf("ca: no certificate in %s", *cc.caFile)
	}
	if _, _, err := net.SplitHostPort(*cc.addr); err != nil {
		return nil, nil, fmt.Errorf("central: %q is not host:port", *cc.addr)
	}
	// passthrough: resolved as the system resolves names, with no DNS
	// service-config lookups (they hang where no DNS server answers).
	// Only a member's certificate passes for central: a node's, from the
	// same CA, never does, whatever names it carries.
	tc := &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS13, VerifyConnection: pki.MembersOnly}
	conn, err := grpc.NewClient("passthrough:///"+*cc.addr, grpc.WithTransportCredentials(credentials.NewTLS(tc)))
	if err != nil {
		return nil, nil, fmt.Errorf("central: %w", err)
	}
	return xasov1.NewCentralServiceClient(conn), func() { conn.Close() }, nil
}

// withToken adds the operator token from the file, or from XASO_TOKEN.
func withToken(ctx context.Context, file string) (context.Context, error) {
	tok := os.Getenv("XASO_TOKEN")
	if file != "" {
		data, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("token-file: %w", err)
		}
		tok = strings.TrimSpace(string(data))
	}
	if tok == "" {
		return nil, errors.New("token-file: an operator token is required (--token-file FILE or XASO_TOKEN)")
	}
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+tok), nil
}

func runPKI(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, adminCentralUsage)
		return errUsage
	}
	sub := flag.NewFlagSet("xaso admin pki "+args[0], flag.ContinueOnError)
	dir := sub.String("dir", ".", "directory of the CA's files")
	hosts := sub.String("hosts", "", "pki issue: host names and IP addresses the certificate is valid for, comma-separated")
	days := sub.Int("days", 825, "pki issue: validity in days")
	words, err := parseInterleaved(sub, args[1:], stderr)
	if err != nil {
		return err
	}
	caCrt, caKey := filepath.Join(*dir, "ca.crt"), filepath.Join(*dir, "ca.key")
	switch args[0] {
	case "init":
		if _, err := os.Stat(caKey); err == nil {
			return fmt.Errorf("dir: %s exists already; a CA is made once", caKey)
		}
		ca, err := pki.NewCA("xaso province CA", time.Now())
		if err != nil {
			return err
		}
		key, err := ca.KeyPEM()
		if err != nil {
			return err
		}
		if err := os.MkdirAll(*dir, 0o700); err != nil {
			return fmt.Errorf("dir: %w", err)
		}
		if err := os.WriteFile(caKey, key, 0o600); err != nil {
			return fmt.Errorf("dir: %w", err)
		}
		if err := os.WriteFile(caCrt, ca.CertPEM, 0o644); err != nil {
			return fmt.Errorf("dir: %w", err)
		}
		fmt.Fprintf(stdout, "CA written to %s (keep ca.key offline); fingerprint %s\n", *dir, pki.Fingerprint(ca.Cert))
		return nil
	case "issue":
		if len(words) != 1 {
			fmt.Fprintln(stderr, "usage: xaso admin pki issue NAME --dir D --hosts H,…")
			return errUsage
		}
		name := words[0]
		certPEM, err := os.ReadFile(caCrt)
		if err != nil {
			return fmt.Errorf("dir: %w", err)
		}
		keyPEM, err := os.ReadFile(caKey)
		if err != nil {
			return fmt.Errorf("dir: %w", err)
		}
		ca, err := pki.LoadCA(certPEM, keyPEM)
		if err != nil {
			return fmt.Errorf("dir: %w", err)
		}
		var dns []string
		var ips []net.IP
		for _, h := range strings.Split(*hosts, ",") {
			if h = strings.TrimSpace(h); h == "" {
				continue
			}
			if ip := net.ParseIP(h); ip != nil {
				ips = append(ips, ip)
			} else {
				dns = append(dns, h)
			}
		}
		pair, err := ca.Issue(name, dns, ips, time.Duration(*days)*24*time.Hour, time.Now())
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(*dir, name+".key"), pair.KeyPEM, 0o600); err != nil {
			return fmt.Errorf("dir: %w", err)
		}
		if err := os.WriteFile(filepath.Join(*dir, name+".crt"), pair.CertPEM, 0o644); err != nil {
			return fmt.Errorf("dir: %w", err)
		}
		fmt.Fprintf(stdout, "certificate for %s written to %s\n", name, *dir)
		return nil
	}
	fmt.Fprintf(stderr, "xaso admin pki: unknown command %q\n", args[0])
	return errUsage
}

// printIndicators writes a report's rows with their Decision 766
// indicators and period view as a text table.
func printIndicators(w io.Writer, rows []*xasov1.PerformanceRow) error {
	if len(rows) == 0 {
		_, err := fmt.Fprintln(w, "Không có hồ sơ nào trong kỳ.")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for i, r := range rows {
		if i > 0 {
			fmt.Fprintln(tw)
		}
		var label []string
		for _, x := range []string{r.GetMonth(), strings.TrimSpace(r.GetCommuneCode() + " " + r.GetCommuneName()), strings.TrimSpace(r.GetProcedureCode() + " " + r.GetProcedureName())} {
			if x != "" {
				label = append(label, x)
			}
		}
		if len(label) == 0 {
			label = []string{"Toàn tỉnh"}
		}
		fmt.Fprintf(tw, "== %s\n", strings.Join(label, " · "))
		p := r.GetPeriod()
		fmt.Fprintf(tw, "Kỳ trước chuyển qua %d\tTiếp nhận %d\tĐã giải quyết, rút, đóng %d\tCòn tồn cuối kỳ %d\n", p.GetCarriedOver(), p.GetReceived(), p.GetResolved(), p.GetPendingEnd())
		for _, v := range r.GetIndicators() {
			if !v.GetMeasurable() {
				fmt.Fprintf(tw, "%s\t%s\t—\tchưa đo được: %s\n", v.GetGroup(), v.GetName(), v.GetNotMeasurable())
				continue
			}
			value := fmt.Sprintf("%.1f%%", 100*v.GetValue())
			if strings.HasSuffix(v.GetKey(), "average") || strings.HasSuffix(v.GetKey(), "working_days") {
				value = fmt.Sprintf("%.2f", v.GetValue())
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%.0f / %.0f\n", v.GetGroup(), v.GetName(), value, v.GetNumerator(), v.GetDenominator())
		}
	}
	return tw.Flush()
}

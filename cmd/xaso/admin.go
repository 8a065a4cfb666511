package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	xasov1 "github.com/xaso/xaso/api/proto/xaso/v1"
)

const adminUsage = `usage: xaso admin [--addr HOST:PORT] [--node-ca F | --node-fingerprint SHA256] [--node-token-file F | --node-cert F --node-key F] COMMAND

commands against a commune node, over TLS: trusting --node-ca (the province
CA once the node has enrolled, or the node's certificate file), or the
SHA-256 fingerprint the node logs for its self-signed certificate, else the
system's CAs; as a token of its tokens file (--node-token-file or
$XASO_NODE_TOKEN) or an API client certificate (xaso admin api-cert):
  procedures [--query WORDS]     the catalogue as the node has it
  dossier CODE                   one dossier with its events
  dossiers [--filter F]          dossiers matching a filter (first page)
  sync                           how far the node's changes reached central
`

func runAdmin(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("xaso admin", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:8080", "the node's address")
	timeout := fs.Duration("timeout", 10*time.Second, "how long to wait for an answer")
	cc := centralConn{
		addr:      fs.String("central", "127.0.0.1:8443", "a central member's API address"),
		caFile:    fs.String("ca", "", "the province CA certificate, to trust central"),
		tokenFile: fs.String("token-file", "", "file holding the operator token (default: $XASO_TOKEN)"),
		timeout:   timeout,
	}
	nodeToken := fs.String("node-token-file", "", "file holding a token of the node's tokens file (default: $XASO_NODE_TOKEN)")
	nt := nodeTLSFlags{
		ca:          fs.String("node-ca", "", "CA certificate (PEM) to trust the node by: the province CA once it has enrolled, or its certificate file"),
		fingerprint: fs.String("node-fingerprint", "", "SHA-256 fingerprint (hex) of the node's certificate, as the node logs it: trusts that certificate alone"),
		cert:        fs.String("node-cert", "", "an API client certificate (PEM, xaso admin api-cert) to call the node with, instead of a token"),
		key:         fs.String("node-key", "", "its key (PEM)"),
		plain:       fs.Bool("node-plain-http", false, "the node serves plain HTTP (plain_http, behind a proxy): no TLS"),
	}
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		fmt.Fprint(stderr, adminUsage+"\n"+nodeTokenUsage+"\n"+apiCertUsage+"\n"+adminCentralUsage)
		return errUsage
	}
	if fs.Arg(0) == "node-token" {
		return runNodeToken(fs.Args()[1:], time.Now(), stdout, stderr)
	}
	if fs.Arg(0) == "api-cert" {
		return runAPICert(fs.Args()[1:], time.Now(), stdout, stderr)
	}
	if isCentralCommand(fs.Arg(0)) {
		return runAdminCentral(ctx, cc, fs.Arg(0), fs.Args()[1:], stdout, stderr)
	}
	creds, err := nt.credentials(*addr)
	if err != nil {
		return err
	}
	conn, err := grpc.NewClient("passthrough:///"+*addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		return fmt.Errorf("addr: %w", err)
	}
	defer conn.Close()
	api := xasov1.NewNodeServiceClient(conn)
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	if *nt.cert == "" {
		secret, err := readSecret(*nodeToken, "XASO_NODE_TOKEN", "node-token-file")
		if err != nil {
			return err
		}
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+secret)
	}

	cmd, rest := fs.Arg(0), fs.Args()[1:]
	sub := flag.NewFlagSet("xaso admin "+cmd, flag.ContinueOnError)
	var resp proto.Message
	switch cmd {
	case "procedures":
		q := sub.String("query", "", "words to find in the code or name")
		if err := parseFlags(sub, rest, stderr); err != nil {
			return err
		}
		resp, err = api.ListProcedures(ctx, &xasov1.ListProceduresRequest{Query: *q, PageSize: 500})
	case "dossier":
		if err := parseFlags(sub, rest, stderr); err != nil {
			return err
		}
		if sub.NArg() != 1 {
			fmt.Fprintln(stderr, "usage: xaso admin dossier CODE")
			return errUsage
		}
		resp, err = api.GetDossier(ctx, &xasov1.GetDossierRequest{Code: sub.Arg(0)})
	case "dossiers":
		f := sub.String("filter", "", "e.g. 'state = IN_PROCESSING' or 'overdue = true'")
		n := sub.Int("page-size", 50, "how many")
		if err := parseFlags(sub, rest, stderr); err != nil {
			return err
		}
		resp, err = api.ListDossiers(ctx, &xasov1.ListDossiersRequest{Filter: *f, PageSize: int32(*n)})
	case "sync":
		resp, err = api.GetSyncStatus(ctx, &xasov1.GetSyncStatusRequest{})
	default:
		fmt.Fprintf(stderr, "xaso admin: unknown command %q\n%s\n%s", cmd, adminUsage, adminCentralUsage)
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

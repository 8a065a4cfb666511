package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/xaso/xaso/internal/freeport"
	"github.com/xaso/xaso/portal/standin"
)

// runPortal runs the stand-in for the National Public Service Portal.
func runPortal(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("xaso portal", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:8086", "address of the citizen's pages and the connector's API (plain HTTP: put it behind TLS beyond a demo)")
	data := fs.String("data", "", "directory keeping the stand-in's state (required)")
	tokenFile := fs.String("token-file", "", "file holding the bearer token the province's connector presents (required, mode 600)")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if *data == "" {
		return fmt.Errorf("data: required (the directory keeping the stand-in's state)")
	}
	if *tokenFile == "" {
		return fmt.Errorf("token-file: required (the connector's bearer token)")
	}
	tok, err := standin.ReadToken(*tokenFile)
	if err != nil {
		return fmt.Errorf("token-file: %w", err)
	}
	srv, err := standin.New(standin.Config{Dir: *data, Token: tok, Logger: newLogger(stderr, *logLevel)})
	if err != nil {
		return err
	}
	defer srv.Close()
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	fmt.Fprintf(stdout, "portal stand-in (not the National Public Service Portal): http://%s/\n", ln.Addr())
	return srv.Serve(ctx, ln)
}

// demoPortal is the stand-in a demo runs beside the province.
type demoPortal struct {
	URL, TokenFile string
	srv            *standin.Server
	done           chan error
}

// startDemoPortal starts the stand-in on 127.0.0.1:port (0: a free port)
// with its state in dir/portal and a fresh connector token in
// dir/portal/connector.token. It stops when ctx ends; Wait waits for that.
func startDemoPortal(ctx context.Context, dir string, port int, log *slog.Logger) (*demoPortal, error) {
	pdir := filepath.Join(dir, "portal")
	if err := os.MkdirAll(pdir, 0o700); err != nil {
		return nil, fmt.Errorf("portal stand-in: %w", err)
	}
	tokenFile := filepath.Join(pdir, "connector.token")
	tok, err := standin.ReadToken(tokenFile)
	if err != nil {
		secret := make([]byte, 24)
		rand.Read(secret)
		tok = hex.EncodeToString(secret)
		if err := os.WriteFile(tokenFile, []byte(tok+"\n"), 0o600); err != nil {
			return nil, fmt.Errorf("portal stand-in: writing the connector's token: %w", err)
		}
	}
	srv, err := standin.New(standin.Config{Dir: filepath.Join(pdir, "data"), Token: tok, Logger: log.With("part", "portal")})
	if err != nil {
		return nil, err
	}
	if port == 0 {
		if port, err = freeport.Pick(); err != nil {
			srv.Close()
			return nil, fmt.Errorf("portal stand-in: %w", err)
		}
	}
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		srv.Close()
		return nil, fmt.Errorf("portal stand-in: listen: %w", err)
	}
	p := &demoPortal{URL: "http://" + ln.Addr().String(), TokenFile: tokenFile, srv: srv, done: make(chan error, 1)}
	go func() { p.done <- srv.Serve(ctx, ln) }()
	return p, nil
}

// Wait waits for the stand-in to stop (its context ended) and closes its
// state.
func (p *demoPortal) Wait() error {
	err := <-p.done
	if cerr := p.srv.Close(); err == nil {
		err = cerr
	}
	return err
}

// citizensEvery is how often the demo's simulated citizens file online.
const citizensEvery = 15 * time.Second

// runCitizens has simulated citizens file online dossiers for communes on
// the stand-in until ctx ends.
func (p *demoPortal) runCitizens(ctx context.Context, communes []string, log *slog.Logger) {
	c := &standin.Citizens{URL: p.URL, Communes: communes, Logger: log.With("part", "citizens")}
	c.Run(ctx, citizensEvery)
}

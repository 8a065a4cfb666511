package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/xaso/xaso/node"
	"github.com/xaso/xaso/sample"
	"github.com/xaso/xaso/workload"
)

func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("xaso demo", flag.ContinueOnError)
	dir := fs.String("dir", "", "data directory (default: a temporary one, removed on exit)")
	communes := fs.Int("communes", 5, "number of commune nodes")
	portBase := fs.Int("port-base", 0, "nodes serve on P+10, P+11, … (default: free ports)")
	noWorkload := fs.Bool("no-workload", false, "start idle, without simulated clerks")
	logLevel := fs.String("log-level", "warn", "debug, info, warn or error")
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	prov := sample.SampleProvince()
	if *communes < 1 || *communes > len(prov.Communes) {
		return fmt.Errorf("communes: %d is outside 1 to %d (the sample province's communes)", *communes, len(prov.Communes))
	}
	if *portBase < 0 || *portBase > 65535-10-*communes {
		return fmt.Errorf("port-base: %d leaves no room for %d nodes", *portBase, *communes)
	}
	if *dir == "" {
		tmp, err := os.MkdirTemp("", "xaso-demo-")
		if err != nil {
			return fmt.Errorf("dir: %w", err)
		}
		defer os.RemoveAll(tmp)
		*dir = tmp
	}
	log := newLogger(stderr, *logLevel)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errc := make(chan error, *communes)
	fmt.Fprintf(stdout, "xaso demo: %s, %d commune nodes, data in %s\n", prov.Name, *communes, *dir)
	for i, c := range prov.Communes[:*communes] {
		cfg := node.DefaultConfig()
		cfg.Commune = c.Code
		cfg.DataDir = filepath.Join(*dir, "node-"+c.Code)
		cfg.Listen = "127.0.0.1:0"
		if *portBase > 0 {
			cfg.Listen = fmt.Sprintf("127.0.0.1:%d", *portBase+10+i)
		}
		ln, err := net.Listen("tcp", cfg.Listen)
		if err != nil {
			return fmt.Errorf("node %s: listen: %w", c.Code, err)
		}
		n, err := node.Open(ctx, cfg, log.With("commune", c.Code), time.Now)
		if err != nil {
			ln.Close()
			return fmt.Errorf("node %s: %w", c.Code, err)
		}
		url := "http://" + ln.Addr().String()
		fmt.Fprintf(stdout, "  %-22s %s  %s/v1/dossiers  %s/v1/procedures  %s/metrics\n", c.Name+" ("+c.Code+")", url, url, url, url)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer n.Close()
			if err := n.Serve(ctx, ln); err != nil {
				errc <- fmt.Errorf("node %s: %w", c.Code, err)
				cancel()
			}
		}()
		if !*noWorkload {
			wg.Add(1)
			go func() {
				defer wg.Done()
				workload.New(n.Server(), uint64(i+1), log.With("commune", c.Code)).Run(ctx, 700*time.Millisecond)
			}()
		}
	}
	fmt.Fprintln(stdout, "Ctrl-C stops the demo.")
	<-ctx.Done()
	wg.Wait()
	close(errc)
	var errs []error
	for err := range errc {
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		fmt.Fprintln(stdout, "xaso demo: stopped")
	}
	return errors.Join(errs...)
}

package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/xaso/xaso/central"
	"github.com/xaso/xaso/node"
	"github.com/xaso/xaso/province"
	"github.com/xaso/xaso/replication/linksim"
	"github.com/xaso/xaso/sample"
	"github.com/xaso/xaso/workload"
)

// The demo's simulated links, in turn: a good one, a weak mountain link
// (256 kbit/s, 600 ms round trip), and one that drops for minutes at a time.
var (
	weakLink  = linksim.Profile{Delay: 300 * time.Millisecond, BytesPerSecond: 256_000 / 8}
	flakyLink = linksim.Profile{Delay: 40 * time.Millisecond, BytesPerSecond: 2_000_000 / 8}
)

func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("xaso demo", flag.ContinueOnError)
	dir := fs.String("dir", "", "data directory (default: a temporary one, removed on exit)")
	communes := fs.Int("communes", 5, "number of commune nodes")
	portBase := fs.Int("port-base", 0, "central members serve on P, P+1, P+2, the portal stand-in on P+6, nodes on P+10, P+11, … (default: free ports)")
	noWorkload := fs.Bool("no-workload", false, "start idle, without simulated clerks")
	links := fs.String("links", "mixed", "good: direct links; mixed: good, weak (256 kbit/s, 600 ms) and flaky (drops for minutes) in turn")
	logLevel := fs.String("log-level", "warn", "debug, info, warn or error")
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	prov := sample.SampleProvince()
	if *communes < 1 || *communes > len(prov.Communes) {
		return fmt.Errorf("communes: %d is outside 1 to %d (the sample province's communes)", *communes, len(prov.Communes))
	}
	// The last node listens on P+10+communes-1.
	if *portBase < 0 || *portBase+9+*communes > 65535 {
		return fmt.Errorf("port-base: %d leaves no room for %d nodes", *portBase, *communes)
	}
	if *links != "good" && *links != "mixed" {
		return fmt.Errorf("links: %q is not good or mixed", *links)
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

	kinds := make([]string, *communes)
	simulated := make([]*linksim.Link, *communes)
	flaky := make([]bool, *communes)
	for i := range kinds {
		kinds[i] = "direct"
		if *links == "mixed" {
			switch i % 3 {
			case 0:
				kinds[i] = "good"
			case 1:
				kinds[i], simulated[i] = "weak: 256 kbit/s, 600 ms", linksim.New(weakLink)
			case 2:
				kinds[i], simulated[i], flaky[i] = "flaky: drops for minutes", linksim.New(flakyLink), true
			}
		}
	}
	portalPort := 0
	if *portBase > 0 {
		portalPort = *portBase + 6
	}
	// The portal stand-in starts first: central's connector pulls from it.
	stand, err := startDemoPortal(ctx, *dir, portalPort, log)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "xaso demo: %s, 3 central members, %d commune nodes, data in %s (encrypted at rest, each store's key beside it: */data.key)\n", prov.Name, *communes, *dir)
	p, err := province.Start(ctx, province.Options{
		Dir: *dir, Communes: prov.Communes[:*communes], PortBase: *portBase, Logger: log,
		Link: func(i int) *linksim.Link { return simulated[i] },
		// Illustrative agency e-IDs (not the communes' real ones), one
		// per commune, so that dossier codes take the form of Decree
		// 118/2025 art. 28: {agency e-ID}-{yymmdd}-{nnnn}.
		AgencyID: func(commune string) string { return "000.00." + commune + ".H56" },
		// An illustrative fee account per commune (not a real one), so
		// that receipts and the look-up show the VietQR code of a fee.
		// Central's portal connector pulls the stand-in's filings and
		// routes them to the communes' desks.
		Central: func(cfg *central.Config) {
			cfg.PortalURL, cfg.PortalTokenFile, cfg.PortalProvince = stand.URL, stand.TokenFile, prov.Code
		},
		Node: func(c sample.Commune, cfg *node.Config) {
			cfg.FeeBankBIN, cfg.FeeAccountNumber = "970405", "3900"+c.Code
			cfg.FeeAccountName = "Trung tâm Phục vụ hành chính công " + c.Name
		},
	})
	if err != nil {
		return err
	}
	defer p.Close()

	opFile, recFile := filepath.Join(*dir, "pki", province.OperatorTokenFile), filepath.Join(*dir, "pki", province.RecordsTokenFile)
	fmt.Fprintln(stdout, "central (HTTPS; CA "+p.CAFile()+"; operator token (administration) in "+opFile+", records token (dossiers with personal data) in "+recFile+"):")
	for _, m := range p.Members() {
		fmt.Fprintf(stdout, "  %-10s %s/v1/cluster  %s/v1/nodes  %s/v1/reports/performance  %s/metrics\n", m.Config.ID, m.URL, m.URL, m.URL, m.URL)
	}
	fmt.Fprintf(stdout, "province dashboard: %s/ (sign in with a token: the records token also finds dossiers)\n", p.Members()[0].URL)
	fmt.Fprintf(stdout, "portal stand-in (not the National Public Service Portal): %s/ citizens file online dossiers; statuses at %s/v1/dossiers/{code}/statuses; the connector's token in %s\n",
		stand.URL, stand.URL, stand.TokenFile)
	fmt.Fprintf(stdout, "clerk's desk: each node's /ban; users %s, %s, %s (clerk, officer, leader), password %s\n",
		province.DemoUsers[0][0], province.DemoUsers[1][0], province.DemoUsers[2][0], province.DemoPassword)
	// The nodes serve the certificates central signs at enrollment: a
	// moment on a good link, longer on a weak one.
	ectx, ecancel := context.WithTimeout(ctx, 60*time.Second)
	if err := p.WaitEnrolled(ectx); err != nil {
		fmt.Fprintf(stdout, "(not every node has enrolled yet: %v; until it does, a node serves a self-signed certificate)\n", err)
	}
	ecancel()
	fmt.Fprintln(stdout, "commune nodes (HTTPS with the certificate central signed at enrollment; trust the CA "+p.CAFile()+"):")
	for i, n := range p.Nodes() {
		fmt.Fprintf(stdout, "  %-28s %s/ban  %s/tra-cuu  %s/v1/dossiers  %s/v1/sync  %s/metrics  link %s\n", n.Commune.Name+" ("+n.Commune.Code+")", n.URL, n.URL, n.URL, n.URL, n.URL, kinds[i])
	}
	fmt.Fprintf(stdout, "node API tokens (every node; same names and roles as the desk users): %s, %s, %s\n",
		p.APITokenFile(province.DemoUsers[0][0]), p.APITokenFile(province.DemoUsers[1][0]), p.APITokenFile(province.DemoUsers[2][0]))
	m0 := p.Members()[0]
	fmt.Fprintf(stdout, "try: curl --cacert %s -H \"Authorization: Bearer $(cat %s)\" %s/v1/nodes\n",
		p.CAFile(), opFile, m0.URL)
	fmt.Fprintf(stdout, "     curl --cacert %s -H \"Authorization: Bearer $(cat %s)\" %s/v1/dossiers\n",
		p.CAFile(), p.APITokenFile(province.DemoUsers[0][0]), p.Nodes()[0].URL)

	var wg sync.WaitGroup
	for i, n := range p.Nodes() {
		if !*noWorkload {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c := workload.New(workload.InProcess(n.Node().Server(), node.ActAs), uint64(i+1), log.With("commune", n.Commune.Code))
				c.Citizens = n.Node() // citizens rate as on the look-up page or the desk device
				for _, m := range p.Nodes() {
					if m != n {
						c.TransferTo = append(c.TransferTo, m.Commune.Code)
					}
				}
				c.Run(ctx, 700*time.Millisecond)
			}()
		}
		if flaky[i] {
			wg.Add(1)
			go func() {
				defer wg.Done()
				flap(ctx, simulated[i], n.Commune.Code, stdout, uint64(i))
			}()
		}
	}
	if !*noWorkload {
		communes := make([]string, 0, len(p.Nodes()))
		for _, n := range p.Nodes() {
			communes = append(communes, n.Commune.Code)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			stand.runCitizens(ctx, communes, log)
		}()
		fmt.Fprintf(stdout, "simulated citizens file an online dossier on the portal stand-in about every %v\n", citizensEvery)
	}
	fmt.Fprintln(stdout, "Ctrl-C stops the demo.")
	<-ctx.Done()
	wg.Wait()
	if err := stand.Wait(); err != nil {
		return err
	}
	if err := p.Close(); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "xaso demo: stopped")
	return nil
}

// flap cuts a link for one to three minutes every three to six minutes.
func flap(ctx context.Context, l *linksim.Link, commune string, out io.Writer, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 0x6c696e6b))
	for {
		up := 3*time.Minute + time.Duration(rng.Int64N(int64(3*time.Minute)))
		down := time.Minute + time.Duration(rng.Int64N(int64(2*time.Minute)))
		if !sleepCtx(ctx, up) {
			return
		}
		l.Cut()
		fmt.Fprintf(out, "link of %s down for %v (the node keeps serving; its outbox waits)\n", commune, down.Round(time.Second))
		if !sleepCtx(ctx, down) {
			l.Heal()
			return
		}
		l.Heal()
		fmt.Fprintf(out, "link of %s back up\n", commune)
	}
}

// sleepCtx waits d; false when ctx ended first.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

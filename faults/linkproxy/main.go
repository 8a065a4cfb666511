// Command linkproxy is a commune's uplink in the fault suite: it forwards
// TCP connections to central members through a simulated link (one-way
// delay, bandwidth cap, loss, resets, half-open spells), which this
// kernel cannot do for containers (it has no netem). It runs in a
// container of its own, between a node's network and the wan.
//
//	linkproxy -control :9999 -route :8443=run-central-1:8443 -route :8444=run-central-2:8443 …
//
// The control port takes, over HTTP:
//
//	PUT  /profile?delay=300ms&bytes_per_second=32000&loss=0.02
//	POST /cut | /half-open | /heal
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/xaso/xaso/replication/linksim"
)

// routes is the -route flag, repeated: listen=target.
type routes map[string]string

func (r routes) String() string { return fmt.Sprint(map[string]string(r)) }

func (r routes) Set(v string) error {
	listen, target, ok := strings.Cut(v, "=")
	if !ok || listen == "" || target == "" {
		return fmt.Errorf("route %q: want listen=target", v)
	}
	r[listen] = target
	return nil
}

func main() {
	rs := routes{}
	control := flag.String("control", ":9999", "where the control API listens")
	flag.Var(rs, "route", "listen=target, repeated")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if len(rs) == 0 {
		fmt.Fprintln(os.Stderr, "linkproxy: at least one -route listen=target")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *control, rs, log); err != nil {
		log.Error("linkproxy", "err", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, control string, rs routes, log *slog.Logger) error {
	link := linksim.New(linksim.Profile{})
	var wg sync.WaitGroup
	var lns []net.Listener
	for listen, target := range rs {
		ln, err := net.Listen("tcp", listen)
		if err != nil {
			return err
		}
		lns = append(lns, ln)
		wg.Add(1)
		go func() {
			defer wg.Done()
			forward(ctx, ln, target, link, log)
		}()
	}
	srv := &http.Server{Addr: control, Handler: controlAPI(link, log), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		srv.Close()
		for _, ln := range lns {
			ln.Close()
		}
	}()
	log.Info("linkproxy serving", "control", control, "routes", rs.String())
	err := srv.ListenAndServe()
	wg.Wait()
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// forward carries each connection accepted on ln to target over the link.
func forward(ctx context.Context, ln net.Listener, target string, link *linksim.Link, log *slog.Logger) {
	for {
		in, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer in.Close()
			dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			out, err := link.Dial(dctx, target)
			cancel()
			if err != nil {
				log.Debug("dial", "target", target, "err", err)
				return
			}
			defer out.Close()
			done := make(chan struct{}, 2)
			go func() { io.Copy(out, in); done <- struct{}{} }()
			go func() { io.Copy(in, out); done <- struct{}{} }()
			<-done // either side ending ends the connection
		}()
	}
}

// controlAPI sets the link's profile and state.
func controlAPI(link *linksim.Link, log *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("PUT /profile", func(w http.ResponseWriter, r *http.Request) {
		var p linksim.Profile
		q := r.URL.Query()
		var err error
		if v := q.Get("delay"); v != "" {
			if p.Delay, err = time.ParseDuration(v); err != nil || p.Delay < 0 {
				http.Error(w, "delay: a duration such as 300ms", http.StatusBadRequest)
				return
			}
		}
		if v := q.Get("bytes_per_second"); v != "" {
			if p.BytesPerSecond, err = strconv.ParseInt(v, 10, 64); err != nil || p.BytesPerSecond < 0 {
				http.Error(w, "bytes_per_second: a whole number, 0 for no cap", http.StatusBadRequest)
				return
			}
		}
		if v := q.Get("loss"); v != "" {
			if p.Loss, err = strconv.ParseFloat(v, 64); err != nil || p.Loss < 0 || p.Loss > 1 {
				http.Error(w, "loss: a share between 0 and 1", http.StatusBadRequest)
				return
			}
		}
		link.SetProfile(p)
		log.Info("profile", "delay", p.Delay, "bytes_per_second", p.BytesPerSecond, "loss", p.Loss)
	})
	for path, do := range map[string]func(){"/cut": link.Cut, "/half-open": link.HalfOpen, "/heal": link.Heal} {
		mux.HandleFunc("POST "+path, func(http.ResponseWriter, *http.Request) {
			do()
			log.Info(strings.TrimPrefix(path, "/"))
		})
	}
	return mux
}

package node

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	xasov1 "github.com/xaso/xaso/api/proto/xaso/v1"
	"github.com/xaso/xaso/dossier"
	"github.com/xaso/xaso/sample"
)

// BenchmarkDurableTransitions measures workflow actions committed with fsync
// by 64 concurrent clerks on one store (group commit).
func BenchmarkDurableTransitions(b *testing.B) {
	st := openSeeded(b, b.TempDir(), nil)
	defer st.Close()
	ctx := context.Background()
	cal := sample.Calendar()
	now := time.Date(2026, 11, 23, 9, 0, 0, 0, dossier.Zone)
	const clerks = 64
	codes := make([]string, clerks)
	for i := range codes {
		d := createOne(b, st, "Bench", now)
		if _, err := st.Transition(ctx, cal, d.GetCode(), 0, dossier.Command{Action: dossier.Assign, Role: dossier.Clerk, Actor: "a", Assignee: "b", Time: now}); err != nil {
			b.Fatal(err)
		}
		codes[i] = d.GetCode()
	}
	var next atomic.Int64
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for c := range clerks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(b.N) {
				cmd := dossier.Command{Action: dossier.Forward, Role: dossier.Officer, Actor: "b", Assignee: "c", Reason: "liên thông", Time: now}
				if _, err := st.Transition(ctx, cal, codes[c], 0, cmd); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "transitions/s")
}

// BenchmarkRESTTransitionLatency measures REST transitions with 50
// concurrent clients on loopback and reports the latency percentiles.
func BenchmarkRESTTransitionLatency(b *testing.B) {
	n := startNode(b)
	const clients = 50
	codes := make([]string, clients)
	for i := range codes {
		resp, err := n.grpc.CreateDossier(context.Background(), &xasov1.CreateDossierRequest{
			ProcedureCode: "1.004873", Channel: xasov1.Channel_CHANNEL_IN_PERSON,
			Applicant: &xasov1.Applicant{FullName: "Bench"}, Components: []*xasov1.SubmittedComponent{{Code: "TK", Paper: true}},
		})
		if err != nil {
			b.Fatal(err)
		}
		codes[i] = resp.GetDossier().GetCode()
		if _, err := n.grpc.TransitionDossier(context.Background(), &xasov1.TransitionDossierRequest{Code: codes[i], Action: xasov1.Action_ACTION_ASSIGN, Assignee: "b"}); err != nil {
			b.Fatal(err)
		}
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients, TLSClientConfig: n.tlsConfig}}
	body := []byte(`{"action":"ACTION_FORWARD","assignee":"c","reason":"liên thông"}`)
	lat := make([][]time.Duration, clients)
	var next atomic.Int64
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(b.N) {
				t0 := time.Now()
				req, err := http.NewRequest(http.MethodPost, n.url+"/v1/dossiers/"+codes[c]+":transition", bytes.NewReader(body))
				if err != nil {
					b.Error(err)
					return
				}
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Authorization", "Bearer "+n.tokens[xasov1.Role_ROLE_OFFICER])
				resp, err := client.Do(req)
				if err != nil {
					b.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					b.Errorf("status %d", resp.StatusCode)
					return
				}
				lat[c] = append(lat[c], time.Since(t0))
			}
		}()
	}
	wg.Wait()
	reportLatencies(b, lat, time.Since(start), "req/s")
}

// BenchmarkNodeStartup1M builds (once, in $XASO_BENCH_DIR or a temporary
// directory) a store of 1,000,000 dossiers received over a year, then starts
// the real `xaso node` binary on it and reports the time to ready and the
// resident memory after serving reads and a metrics scrape. It runs only
// when XASO_BENCH_1M=1: the first build of the store takes minutes.
func BenchmarkNodeStartup1M(b *testing.B) {
	if os.Getenv("XASO_BENCH_1M") != "1" {
		b.Skip("set XASO_BENCH_1M=1")
	}
	dir := os.Getenv("XASO_BENCH_DIR")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "xaso-bench-1m")
	}
	const total = 1_000_000
	if _, err := os.Stat(filepath.Join(dir, "complete")); err != nil {
		os.RemoveAll(dir)
		buildStore(b, dir, total)
	}
	bin := filepath.Join(b.TempDir(), "xaso")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/xaso").CombinedOutput(); err != nil {
		b.Fatalf("build: %v\n%s", err, out)
	}
	// The node this benchmark starts on loopback serves its self-signed
	// certificate, which is not what is measured: it is not checked.
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	defer client.CloseIdleConnections()
	for range b.N {
		ln, _ := net.Listen("tcp", "127.0.0.1:0")
		addr := ln.Addr().String()
		ln.Close()
		t0 := time.Now()
		cmd := exec.Command(bin, "node", "--data-dir", dir, "--commune", testCommune, "--listen", addr, "--log-level", "error")
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		deadline := time.Now().Add(60 * time.Second)
		for {
			resp, err := client.Get("https://" + addr + "/readyz")
			if err == nil && resp.StatusCode == 200 {
				resp.Body.Close()
				break
			}
			if time.Now().After(deadline) {
				cmd.Process.Kill()
				b.Fatal("node not ready within 60 s")
			}
			time.Sleep(5 * time.Millisecond) // polling for readiness, bounded by the deadline
		}
		ready := time.Since(t0)
		for _, p := range []string{"/v1/dossiers?page_size=100", "/v1/dossiers?filter=state%3DRECEIVED&page_size=100", "/v1/dossiers/09619-260101-0001", "/metrics"} {
			resp, err := client.Get("https://" + addr + p)
			if err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		rss := rssBytes(cmd.Process.Pid)
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
		b.ReportMetric(ready.Seconds(), "startup-s")
		b.ReportMetric(float64(rss)/(1<<20), "rss-MB")
	}
}

func buildStore(b *testing.B, dir string, total int) {
	st, err := OpenStore(StoreOptions{Dir: dir, NoSync: true, Logger: quietLog()})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if err := st.SeedCatalogue(ctx, sample.Procedures()); err != nil {
		b.Fatal(err)
	}
	cal := sample.Calendar()
	procs := sample.Procedures()
	base := time.Date(2025, 11, 1, 8, 0, 0, 0, dossier.Zone)
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(total) {
					return
				}
				p := procs[int(i)%len(procs)]
				var comps []*xasov1.SubmittedComponent
				for _, c := range p.GetComponents() {
					comps = append(comps, &xasov1.SubmittedComponent{Code: c.GetCode(), Paper: true})
				}
				at := base.Add(time.Duration(i) * 31 * time.Second)
				_, err := st.Create(ctx, testCommune, cal, CreateInput{
					ProcedureCode: p.GetCode(), Channel: xasov1.Channel_CHANNEL_IN_PERSON, Actor: "motcua.1", Role: dossier.Clerk, Time: at,
					Applicant:  &xasov1.Applicant{FullName: "Nguyễn Văn An " + strconv.Itoa(int(i)), IdNumber: fmt.Sprintf("%012d", i), Phone: "0912345678", Address: "Thôn Đồng Bảng, xã Ba Vì"},
					Components: comps,
				})
				if err != nil {
					b.Error(err)
					return
				}
				if i%100_000 == 0 && w == 0 {
					b.Logf("built %d dossiers", i)
				}
			}
		}()
	}
	wg.Wait()
	if err := st.Close(); err != nil {
		b.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "complete"), nil, 0o600)
}

func rssBytes(pid int) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			kb, _ := strconv.ParseInt(strings.Fields(line)[1], 10, 64)
			return kb << 10
		}
	}
	return -1
}

// BenchmarkDossierReadLatency measures what recording a read in the access
// log adds to GetDossier: readers at once on one store with fsync on (the
// entry is durable before the answer; concurrent readers share a commit),
// in process, without the network. "unlogged" reads the dossier from the
// store as GetDossier did before the access log; "logged" is GetDossier
// now. -benchtime sets the reads of each run.
func BenchmarkDossierReadLatency(b *testing.B) {
	for _, readers := range []int{1, 16} {
		for _, logged := range []bool{false, true} {
			name := fmt.Sprintf("readers=%d/unlogged", readers)
			if logged {
				name = fmt.Sprintf("readers=%d/logged", readers)
			}
			b.Run(name, func(b *testing.B) { benchReads(b, readers, logged) })
		}
	}
}

func benchReads(b *testing.B, readers int, logged bool) {
	n := startNode(b)
	ctx := WithPrincipal(context.Background(), Principal{Name: "lan", Role: dossier.Clerk, Via: ViaSession, Addr: "192.0.2.1"})
	codes := make([]string, readers)
	for i := range codes {
		resp, err := n.Server().CreateDossier(ctx, &xasov1.CreateDossierRequest{
			ProcedureCode: "1.001193", Channel: xasov1.Channel_CHANNEL_IN_PERSON,
			Applicant:  &xasov1.Applicant{FullName: "Hà Thị Lan", IdNumber: "001190012345", Phone: "0912345678"},
			Components: []*xasov1.SubmittedComponent{{Code: "TK", Paper: true}, {Code: "GCS", Paper: true}},
		})
		if err != nil {
			b.Fatal(err)
		}
		codes[i] = resp.GetDossier().GetCode()
	}
	lat := make([][]time.Duration, readers)
	var next atomic.Int64
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for r := range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(b.N) {
				t0 := time.Now()
				var err error
				if logged {
					_, err = n.Server().GetDossier(ctx, &xasov1.GetDossierRequest{Code: codes[r]})
				} else {
					_, err = n.Store().Get(codes[r], true)
				}
				if err != nil {
					b.Error(err)
					return
				}
				lat[r] = append(lat[r], time.Since(t0))
			}
		}()
	}
	wg.Wait()
	reportLatencies(b, lat, time.Since(start), "reads/s")
}

// reportLatencies reports the median and 99th percentile of the
// latencies the clients measured, and their rate as perSecond.
func reportLatencies(b *testing.B, lat [][]time.Duration, elapsed time.Duration, perSecond string) {
	all := slices.Concat(lat...)
	slices.Sort(all)
	if len(all) > 0 {
		b.ReportMetric(float64(all[len(all)/2].Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(all[len(all)*99/100].Microseconds())/1000, "p99-ms")
		b.ReportMetric(float64(len(all))/elapsed.Seconds(), perSecond)
	}
}

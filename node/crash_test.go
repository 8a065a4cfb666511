package node

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	xasov1 "github.com/xaso/xaso/api/proto/xaso/v1"
	"github.com/xaso/xaso/dossier"
	"github.com/xaso/xaso/sample"
)

const crashDirEnv = "XASO_CRASH_CHILD_DIR"

// TestCrashChild is the child of TestCrashSafety: it writes changes from
// several goroutines and prints "ack CODE EVENTS" after each one the store
// acknowledged, until it is killed. It does nothing in a normal run.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashDirEnv)
	if dir == "" {
		return
	}
	st, err := OpenStore(StoreOptions{Dir: dir, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		fmt.Println("open:", err)
		os.Exit(3)
	}
	ctx := context.Background()
	if err := st.SeedCatalogue(ctx, sample.Procedures()); err != nil {
		fmt.Println("seed:", err)
		os.Exit(3)
	}
	cal := sample.Calendar()
	var mu sync.Mutex
	out := bufio.NewWriter(os.Stdout)
	ack := func(d *dossier.Dossier) {
		mu.Lock()
		fmt.Fprintf(out, "ack %s %d\n", d.GetCode(), d.GetEventCount())
		out.Flush()
		mu.Unlock()
	}
	seed, _ := strconv.ParseUint(os.Getenv("XASO_CRASH_SEED"), 10, 64)
	for w := range 8 {
		go func() {
			rng := rand.New(rand.NewPCG(seed, uint64(w)))
			for {
				now := time.Now()
				d, err := st.Create(ctx, testCommune, cal, CreateInput{
					RequestID: fmt.Sprintf("r-%d-%d", w, rng.Uint64()), ProcedureCode: "1.004873", Channel: xasov1.Channel_CHANNEL_ONLINE,
					Applicant:  &xasov1.Applicant{FullName: "Crash Test", IdNumber: fmt.Sprintf("%012d", rng.IntN(1000))},
					Components: []*xasov1.SubmittedComponent{{Code: "TK", Paper: true}}, Actor: "a", Role: dossier.Clerk, Time: now,
				})
				if err != nil {
					fmt.Println("create:", err)
					os.Exit(3)
				}
				ack(d)
				for _, c := range []dossier.Command{
					{Action: dossier.Assign, Role: dossier.Clerk, Actor: "a", Assignee: "b"},
					{Action: dossier.Submit, Role: dossier.Officer, Actor: "b"},
					{Action: dossier.Approve, Role: dossier.Leader, Actor: "c"},
				}[:rng.IntN(4)] {
					c.Time = time.Now()
					if d, err = st.Transition(ctx, cal, d.GetCode(), 0, c); err != nil {
						fmt.Println("transition:", err)
						os.Exit(3)
					}
					ack(d)
				}
			}
		}()
	}
	select {} // until killed
}

func TestCrashSafety(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns and kills child processes")
	}
	dir := t.TempDir()
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	acked := map[string]int64{}
	for round := range 5 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), crashDirEnv+"="+dir, fmt.Sprintf("XASO_CRASH_SEED=%d", seed+uint64(round)))
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		killAfter := 50 + rng.IntN(400)
		sc := bufio.NewScanner(stdout)
		n := 0
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) != 3 || f[0] != "ack" {
				t.Fatalf("child: %s", sc.Text())
			}
			ev, _ := strconv.ParseInt(f[2], 10, 64)
			acked[f[1]] = max(acked[f[1]], ev)
			if n++; n == killAfter {
				cmd.Process.Kill() // SIGKILL: no chance to flush or close
				break
			}
		}
		io.Copy(io.Discard, stdout)
		cmd.Wait()
		if n < killAfter {
			t.Fatalf("round %d: child stopped after %d acknowledgements", round, n)
		}

		st, err := OpenStore(StoreOptions{Dir: dir, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			t.Fatalf("round %d: reopen after kill: %v", round, err)
		}
		for code, ev := range acked {
			d, err := st.Get(code, false)
			if err != nil || d.GetEventCount() < ev {
				t.Fatalf("round %d: acknowledged %s with %d events, found %v (%v)", round, code, ev, d.GetEventCount(), err)
			}
		}
		if err := st.Verify(); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if err := st.Close(); err != nil {
			t.Fatal(err)
		}
		t.Logf("round %d: killed after %d acknowledgements; %d dossiers intact", round, n, len(acked))
	}
}

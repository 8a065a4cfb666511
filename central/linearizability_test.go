package central

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"

	xasov1 "github.com/xaso/xaso/api/proto/xaso/v1"
	"github.com/xaso/xaso/internal/lincheck"
)

// links is the network between members, as a proxy in every connection:
// each link (a pair of members) can be cut or slowed. A member's Raft
// dials go through it; raw TCP is wrapped beneath TLS.
type links struct {
	mu    sync.Mutex
	addrs map[string]string // Raft address → member ID
	cut   map[[2]string]bool
	delay map[[2]string]time.Duration
	conns map[[2]string][]net.Conn
}

func newLinks() *links {
	return &links{addrs: map[string]string{}, cut: map[[2]string]bool{}, delay: map[[2]string]time.Duration{}, conns: map[[2]string][]net.Conn{}}
}

func pair(a, b string) [2]string {
	if a > b {
		a, b = b, a
	}
	return [2]string{a, b}
}

// dialer is member from's Dial.
func (l *links) dialer(from string) func(string, time.Duration) (net.Conn, error) {
	return func(addr string, timeout time.Duration) (net.Conn, error) {
		l.mu.Lock()
		p := pair(from, l.addrs[addr])
		cut := l.cut[p]
		l.mu.Unlock()
		if cut {
			return nil, fmt.Errorf("link %s–%s is cut", p[0], p[1])
		}
		c, err := net.DialTimeout("tcp", addr, timeout)
		if err != nil {
			return nil, err
		}
		lc := &linkConn{Conn: c, l: l, p: p}
		l.mu.Lock()
		l.conns[p] = append(l.conns[p], c)
		l.mu.Unlock()
		return lc, nil
	}
}

// isolate cuts (or heals) every link of a member.
func (l *links) isolate(id string, members []string, cut bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, o := range members {
		if o == id {
			continue
		}
		p := pair(id, o)
		l.cut[p] = cut
		if cut {
			for _, c := range l.conns[p] {
				c.Close()
			}
			l.conns[p] = nil
		}
	}
}

func (l *links) slow(a, b string, d time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.delay[pair(a, b)] = d
}

type linkConn struct {
	net.Conn
	l *links
	p [2]string
}

func (c *linkConn) Write(b []byte) (int, error) {
	c.l.mu.Lock()
	cut, d := c.l.cut[c.p], c.l.delay[c.p]
	c.l.mu.Unlock()
	if cut {
		c.Conn.Close()
		return 0, errors.New("link cut")
	}
	if d > 0 {
		time.Sleep(d) // the link's latency
	}
	return c.Conn.Write(b)
}

// TestCatalogueWritesAndReadsAreLinearizable runs clients writing and
// reading communes on every member while members are isolated, links
// slowed and members (the leader among them) killed and restarted; the
// history must be linearizable.
func TestCatalogueWritesAndReadsAreLinearizable(t *testing.T) {
	if testing.Short() {
		t.Skip("a fault schedule of several seconds")
	}
	ln := newLinks()
	var peers []Peer
	ac := newAPICluster(t, func(cfg *MemberConfig) {
		cfg.Dial = ln.dialer(cfg.ID)
	})
	peers = ac.peers
	var ids []string
	ln.mu.Lock()
	for _, p := range peers {
		ln.addrs[p.Addr] = p.ID
		ids = append(ids, p.ID)
	}
	ln.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+ac.operator)

	// One gRPC client per member address, made as members move ports.
	var cmu sync.Mutex
	clients := map[string]xasov1.CentralServiceClient{}
	client := func(id string) xasov1.CentralServiceClient {
		url := strings.TrimPrefix(ac.url(id), "https://")
		cmu.Lock()
		defer cmu.Unlock()
		if c, ok := clients[url]; ok {
			return c
		}
		conn, err := grpc.NewClient(url, grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: ac.roots})))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		clients[url] = xasov1.NewCentralServiceClient(conn)
		return clients[url]
	}
	// Wait until every member forwards.
	for _, id := range ids {
		eventually(t, 15*time.Second, id+" accepting writes", func() bool {
			wctx, wcancel := context.WithTimeout(ctx, time.Second)
			defer wcancel()
			_, err := client(id).PutCommune(wctx, &xasov1.PutCommuneRequest{Commune: &xasov1.Commune{Code: "00001", Name: "init"}})
			return err == nil
		})
	}

	start := time.Now()
	now := func() int64 { return int64(time.Since(start)) }
	var hmu sync.Mutex
	history := []porcupine.Operation{{ClientId: 0, Input: lincheck.Input{Write: true, Key: "00001", Value: "init"}, Call: 0, Output: "", Return: 0}}
	keys := []string{"00001", "00002", "00003"}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for cl := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(cl), 7))
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				id := ids[rng.IntN(len(ids))]
				key := keys[rng.IntN(len(keys))]
				octx, ocancel := context.WithTimeout(ctx, 2*time.Second)
				call := now()
				if rng.IntN(2) == 0 {
					v := fmt.Sprintf("c%d-%d", cl, i)
					_, err := client(id).PutCommune(octx, &xasov1.PutCommuneRequest{Commune: &xasov1.Commune{Code: key, Name: v}})
					ret := now()
					if err != nil {
						ret = math.MaxInt64 // it may have happened, at any time from now on
					}
					hmu.Lock()
					history = append(history, porcupine.Operation{ClientId: cl + 1, Input: lincheck.Input{Write: true, Key: key, Value: v}, Call: call, Output: "", Return: ret})
					hmu.Unlock()
				} else {
					resp, err := client(id).ListCommunes(octx, &xasov1.ListCommunesRequest{Consistency: xasov1.ReadConsistency_READ_CONSISTENCY_LINEARIZABLE})
					ret := now()
					if err == nil {
						val := ""
						for _, c := range resp.GetCommunes() {
							if c.GetCode() == key {
								val = c.GetName()
							}
						}
						hmu.Lock()
						history = append(history, porcupine.Operation{ClientId: cl + 1, Input: lincheck.Input{Write: false, Key: key, Value: ""}, Call: call, Output: val, Return: ret})
						hmu.Unlock()
					}
				}
				ocancel()
			}
		}()
	}

	// The fault schedule: seeded, printed.
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("XASO_FAULT_SEED"); s != "" {
		fmt.Sscan(s, &seed) // replay a failed run's schedule
	}
	t.Logf("fault seed %d (XASO_FAULT_SEED replays it)", seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	var faults []string
	for range 8 {
		l := ac.leader()
		switch rng.IntN(4) {
		case 0: // kill the leader
			faults = append(faults, "kill leader "+l.ID())
			ac.restart(l.ID())
		case 1: // isolate the leader: the majority elects another; the old one must not answer linearizable reads
			faults = append(faults, "isolate leader "+l.ID())
			ln.isolate(l.ID(), ids, true)
			time.Sleep(time.Duration(500+rng.IntN(700)) * time.Millisecond) // the partition lasts this long
			ln.isolate(l.ID(), ids, false)
		case 2: // isolate a random member
			id := ids[rng.IntN(len(ids))]
			faults = append(faults, "isolate "+id)
			ln.isolate(id, ids, true)
			time.Sleep(time.Duration(500+rng.IntN(700)) * time.Millisecond) // the partition lasts this long
			ln.isolate(id, ids, false)
		case 3: // slow a link
			a, b := ids[rng.IntN(3)], ids[rng.IntN(3)]
			faults = append(faults, "slow "+a+"–"+b)
			ln.slow(a, b, 30*time.Millisecond)
			time.Sleep(500 * time.Millisecond) // the slowness lasts this long
			ln.slow(a, b, 0)
		}
		time.Sleep(300 * time.Millisecond) // some calm between faults, for writes to succeed
	}
	close(stop)
	wg.Wait()
	t.Logf("faults: %s", strings.Join(faults, ", "))

	ok, writes, reads := 0, 0, 0
	for _, op := range history {
		if op.Return != math.MaxInt64 {
			ok++
		}
		if op.Input.(lincheck.Input).Write {
			writes++
		} else {
			reads++
		}
	}
	t.Logf("history: %d operations (%d writes, %d reads), %d completed", len(history), writes, reads, ok)
	if reads < 20 || writes < 20 {
		t.Fatalf("too few operations to judge: %d writes, %d reads", writes, reads)
	}
	res, _ := porcupine.CheckOperationsVerbose(lincheck.RegisterModel, history, 60*time.Second)
	switch res {
	case porcupine.Ok:
	case porcupine.Unknown:
		t.Fatal("the linearizability check timed out")
	default:
		t.Fatalf("the history is not linearizable (seed %d, faults %v)", seed, faults)
	}
}

// The checker must be able to fail: a read that returns a value older than
// a write completed before it began is not linearizable.
func TestRegisterModelRefusesAStaleRead(t *testing.T) {
	history := []porcupine.Operation{
		{ClientId: 0, Input: lincheck.Input{Write: true, Key: "00001", Value: "a"}, Call: 0, Output: "", Return: 10},
		{ClientId: 1, Input: lincheck.Input{Write: true, Key: "00001", Value: "b"}, Call: 20, Output: "", Return: 30},
		{ClientId: 2, Input: lincheck.Input{Write: false, Key: "00001", Value: ""}, Call: 40, Output: "a", Return: 50},
	}
	if porcupine.CheckOperations(lincheck.RegisterModel, history) {
		t.Fatal("a stale read passed the check")
	}
	history[2].Output = "b"
	if !porcupine.CheckOperations(lincheck.RegisterModel, history) {
		t.Fatal("a fresh read failed the check")
	}
}

package faults

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/anishathalye/porcupine"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"

	xasov1 "github.com/xaso/xaso/api/proto/xaso/v1"
	"github.com/xaso/xaso/internal/lincheck"
	"github.com/xaso/xaso/sample"
)

// The operators' catalogue history: procedure names written and read
// (linearizable reads) on whichever member an operator reached, checked as
// one register per procedure (lincheck.RegisterModel).

// operators writes and reads catalogue procedures' names on random members
// until ctx ends, recording each call with its call and return times.
type operators struct {
	mu      sync.Mutex
	history []porcupine.Operation
	start   time.Time
}

func (o *operators) now() int64 { return int64(time.Since(o.start)) }

func (o *operators) record(op porcupine.Operation) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.history = append(o.history, op)
}

// run drives operator cl. The procedures' names start as the sample's.
func (o *operators) run(ctx context.Context, c *Cluster, cl int, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, uint64(cl)))
	procs := sample.Procedures()[:3]
	for i := 0; ctx.Err() == nil; i++ {
		m := rng.IntN(len(c.Members()))
		api, _, err := c.central(ctx, m)
		if err != nil {
			time.Sleep(100 * time.Millisecond) // the member is down
			continue
		}
		p := procs[rng.IntN(len(procs))]
		octx, cancel := context.WithTimeout(metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+c.token), 2*time.Second)
		call := o.now()
		if rng.IntN(2) == 0 {
			v := fmt.Sprintf("%s (op %d-%d)", p.GetName(), cl, i)
			np := proto.Clone(p).(*xasov1.Procedure)
			np.Name = v
			_, err := api.UpdateCatalogProcedure(octx, &xasov1.UpdateCatalogProcedureRequest{Procedure: np})
			ret := o.now()
			if err != nil {
				ret = math.MaxInt64 // it may have happened, at any time from now on
			}
			o.record(porcupine.Operation{ClientId: cl, Input: lincheck.Input{Write: true, Key: p.GetCode(), Value: v}, Call: call, Output: "", Return: ret})
		} else {
			r, err := api.GetCatalogProcedure(octx, &xasov1.GetCatalogProcedureRequest{Code: p.GetCode(), Consistency: xasov1.ReadConsistency_READ_CONSISTENCY_LINEARIZABLE})
			ret := o.now()
			if err == nil {
				o.record(porcupine.Operation{ClientId: cl, Input: lincheck.Input{Write: false, Key: p.GetCode(), Value: ""}, Call: call, Output: r.GetProcedure().GetName(), Return: ret})
			}
		}
		cancel()
		time.Sleep(20 * time.Millisecond) // an operator's pace
	}
}

// linearizable checks the history; the registers start as the sample's
// names, written before the history began.
func (o *operators) linearizable() (bool, int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	history := make([]porcupine.Operation, 0, len(o.history)+3)
	for _, p := range sample.Procedures()[:3] {
		history = append(history, porcupine.Operation{ClientId: 1000, Input: lincheck.Input{Write: true, Key: p.GetCode(), Value: p.GetName()}, Call: -2, Return: -1})
	}
	history = append(history, o.history...)
	res, _ := porcupine.CheckOperationsVerbose(lincheck.RegisterModel, history, 2*time.Minute)
	return res == porcupine.Ok, len(o.history)
}

package workload

import (
	"fmt"
	"math/rand/v2"
	"time"

	xasov1 "github.com/xaso/xaso/api/proto/xaso/v1"
	"github.com/xaso/xaso/dossier"
)

// History makes a commune's outbox records as its node would, without a
// node: the same desk behaviour as Clerks, decided by the domain package
// and chained by hash. Central's tests and benchmarks feed it to the
// cluster; it is deterministic for a seed.
type History struct {
	commune string
	procs   map[string]*xasov1.Procedure
	list    []*xasov1.Procedure
	cal     *dossier.Calendar
	rng     *rand.Rand
	now     time.Time
	day     string
	daySeq  int
	seq     int64
	head    []byte
	open    []*xasov1.Dossier
	// citizens rate, from their own random source so that the desk's
	// choices stay those of a seed; toRate are the dossiers whose
	// citizen will rate, oldest first.
	citizens *rand.Rand
	toRate   []*xasov1.Dossier
}

// NewHistory starts a commune's history at start (its clock advances a few
// minutes per record, skipping nights).
func NewHistory(commune string, procs []*xasov1.Procedure, cal *dossier.Calendar, seed uint64, start time.Time) *History {
	h := &History{commune: commune, procs: map[string]*xasov1.Procedure{}, list: procs, cal: cal,
		rng: rand.New(rand.NewPCG(seed, seed^0x5bd1e995)), now: start, head: dossier.GenesisHash(),
		citizens: rand.New(rand.NewPCG(seed^0xc2b2ae35, seed))}
	for _, p := range procs {
		h.procs[p.GetCode()] = p
	}
	return h
}

// Sequence is the last sequence made.
func (h *History) Sequence() int64 { return h.seq }

// Now is the history's clock.
func (h *History) Now() time.Time { return h.now }

// Next returns the next outbox record: a new dossier received, a step
// on an open one, or a citizen's rating of a handled one.
func (h *History) Next() (*xasov1.OutboxRecord, error) {
	h.now = h.now.Add(time.Duration(1+h.rng.IntN(10)) * time.Minute)
	if hour := h.now.In(dossier.Zone).Hour(); hour >= 17 {
		h.now = h.now.Add(time.Duration(24-hour+7) * time.Hour)
	}
	if len(h.toRate) > 0 && h.citizens.IntN(3) == 0 {
		d := h.toRate[0]
		h.toRate = h.toRate[1:]
		if ev, err := dossier.Decide(d, dossier.RateCommand(CitizenRating(h.citizens), h.now), h.cal); err == nil {
			dossier.Apply(d, ev)
			return h.chain(d.GetCode(), ev)
		}
	}
	if receives(h.rng, len(h.open)) {
		return h.receive()
	}
	i := h.rng.IntN(len(h.open))
	d := h.open[i]
	req, who := nextAction(h.rng, d, nil, h.now)
	ev, err := dossier.Decide(d, dossier.Command{
		Action: req.GetAction(), Actor: who.Name, Role: who.Role, Time: h.now,
		Reason: req.GetReason(), Assignee: req.GetAssignee(),
	}, h.cal)
	if err != nil {
		h.open = append(h.open[:i], h.open[i+1:]...) // the desk would not do this; leave the dossier be
		return h.Next()
	}
	dossier.Apply(d, ev)
	if ev.GetAction() == dossier.Return && rates(h.citizens, d) {
		h.toRate = append(h.toRate, d)
	}
	if dossier.IsFinal(d) {
		h.open = append(h.open[:i], h.open[i+1:]...)
	}
	return h.chain(d.GetCode(), ev)
}

func (h *History) receive() (*xasov1.OutboxRecord, error) {
	req := receiveRequest(h.rng, h.list)
	if day := dossier.CodeDay(h.now); day != h.day {
		h.day, h.daySeq = day, 0
	}
	h.daySeq++
	code := dossier.FormatCode(h.commune, h.now, h.daySeq)
	ev, err := dossier.ReceiveEvent(dossier.ReceiveInput{
		Code: code, CommuneCode: h.commune, Procedure: h.procs[req.GetProcedureCode()],
		Applicant: req.GetApplicant(), Channel: req.GetChannel(), Components: req.GetComponents(),
		Actor: Clerk.Name, Role: Clerk.Role, Time: h.now, Outcome: req.GetOutcome(), Reason: req.GetReason(),
	}, h.cal)
	if err != nil {
		return nil, fmt.Errorf("receive %s: %w", code, err)
	}
	d := &xasov1.Dossier{}
	dossier.Apply(d, ev)
	if dossier.IsOpen(d.GetState()) {
		h.open = append(h.open, d)
	} else if rates(h.citizens, d) {
		h.toRate = append(h.toRate, d)
	}
	return h.chain(code, ev)
}

func (h *History) chain(code string, ev *xasov1.Event) (*xasov1.OutboxRecord, error) {
	rec := &xasov1.OutboxRecord{Sequence: h.seq + 1, CommuneCode: h.commune, DossierCode: code, Event: ev, PrevHash: h.head}
	sum, err := dossier.RecordHash(rec)
	if err != nil {
		return nil, err
	}
	rec.Hash = sum
	h.seq, h.head = rec.GetSequence(), sum
	return rec, nil
}

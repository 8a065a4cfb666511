package central

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"google.golang.org/grpc/status"
)

// PersonalDataRead is one call at this member that read citizens' personal
// data (a method whose rule is AccessPersonalData), allowed or not found.
type PersonalDataRead struct {
	Time time.Time
	// Name and Role are the operator token's; Via says how it came (a
	// token in the call, a dashboard session); From is the client's
	// address.
	Name, Role, Via, From string
	// Method is the gRPC full method; Request what it asked for (the
	// dossier's code, the file's SHA-256), as JSON.
	Method, Request string
	// Outcome is the call's status code: OK, NOT_FOUND, …
	Outcome string
}

// personalDataReadsKept is how many reads a member keeps in memory.
const personalDataReadsKept = 4096

// personalDataReads records central's own reads of personal data, as they
// happen and with no Raft entry each: a log line at Info ("personal data
// read", kept by the member's journal) and the last personalDataReadsKept
// in memory, newest last. The nodes' access logs, replicated to central,
// are a separate record.
type personalDataReads struct {
	log    *slog.Logger
	now    func() time.Time
	member string

	mu   sync.Mutex
	kept []PersonalDataRead // a ring once full; next is the oldest
	next int
}

// record records one call of method by c for req, which ended with err.
func (p *personalDataReads) record(ctx context.Context, c caller, method string, req any, err error) {
	r := PersonalDataRead{Time: p.now(), Name: c.name, Role: c.roleName(), Via: c.via, From: c.addr,
		Method: method, Request: describe(req), Outcome: status.Code(err).String()}
	p.log.InfoContext(ctx, "personal data read", "who", r.Name, "role", r.Role, "via", r.Via, "from", r.From,
		"method", r.Method, "request", r.Request, "outcome", r.Outcome, "member", p.member)
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.kept) < personalDataReadsKept {
		p.kept = append(p.kept, r)
		return
	}
	p.kept[p.next] = r
	p.next = (p.next + 1) % len(p.kept)
}

// list returns the reads kept, oldest first.
func (p *personalDataReads) list() []PersonalDataRead {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]PersonalDataRead, 0, len(p.kept))
	out = append(out, p.kept[p.next:]...)
	return append(out, p.kept[:p.next]...)
}

// PersonalDataReads returns the reads of personal data this member served
// lately (see personalDataReads), oldest first.
func (s *Server) PersonalDataReads() []PersonalDataRead { return s.reads.list() }

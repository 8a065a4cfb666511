// Package workload simulates the clerks, officers and leaders of a commune
// centre: it receives dossiers of the catalogue's procedures and moves them
// through the workflow as real desks do (most returned on time, some sent
// for supplements, a few refused or withdrawn), through the node's API;
// and, given Citizens, the citizens who rate their dossiers once handled.
//
// It drives demos and load tests; it never touches a store directly.
package workload

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	xasov1 "github.com/xaso/xaso/api/proto/xaso/v1"
	"github.com/xaso/xaso/dossier"
)

// Client is the part of the node API the workload uses. Each call's
// context says which official makes it (ActingOfficial); the client
// presents that official's credentials. InProcess and Remote make one.
type Client interface {
	ListProcedures(context.Context, *xasov1.ListProceduresRequest) (*xasov1.ListProceduresResponse, error)
	CreateDossier(context.Context, *xasov1.CreateDossierRequest) (*xasov1.CreateDossierResponse, error)
	TransitionDossier(context.Context, *xasov1.TransitionDossierRequest) (*xasov1.TransitionDossierResponse, error)
	ListDossiers(context.Context, *xasov1.ListDossiersRequest) (*xasov1.ListDossiersResponse, error)
}

// Official is one of the simulated desk's people.
type Official struct {
	Name string
	Role xasov1.Role
}

// The simulated desk's officials: the one-stop clerk, the officer who
// processes dossiers and the leader who signs.
var (
	Clerk   = Official{Name: "motcua.1", Role: xasov1.Role_ROLE_CLERK}
	Officer = Official{Name: "chuyenvien.1", Role: xasov1.Role_ROLE_OFFICER}
	Leader  = Official{Name: "chutich", Role: xasov1.Role_ROLE_LEADER}
)

// Officials lists them all, for setting up their credentials.
func Officials() []Official { return []Official{Clerk, Officer, Leader} }

type actingKey struct{}

// actAs returns ctx saying that o makes the calls made with it.
func actAs(ctx context.Context, o Official) context.Context {
	return context.WithValue(ctx, actingKey{}, o)
}

// ActingOfficial returns the official a workload call is made as.
func ActingOfficial(ctx context.Context) (Official, bool) {
	o, ok := ctx.Value(actingKey{}).(Official)
	return o, ok
}

// Tokens are the node API tokens of the simulated officials, by name.
type Tokens map[string]string

// Outgoing returns ctx carrying the acting official's token as gRPC
// metadata (authorization: Bearer …).
func (t Tokens) Outgoing(ctx context.Context) context.Context {
	if o, ok := ActingOfficial(ctx); ok && t[o.Name] != "" {
		return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+t[o.Name])
	}
	return ctx
}

// Interceptor is a gRPC client interceptor that sends with each call the
// token of the official the call is made as, or fallback's for calls made
// as nobody in particular (reads by a test, say).
func (t Tokens) Interceptor(fallback Official) grpc.UnaryClientInterceptor {
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		if _, ok := ActingOfficial(ctx); !ok {
			ctx = actAs(ctx, fallback)
		}
		return invoker(t.Outgoing(ctx), method, req, reply, cc, opts...)
	}
}

// Remote is a node's gRPC client as a Client: each call carries the token
// of the official who makes it.
func Remote(api xasov1.NodeServiceClient, tokens Tokens) Client { return remote{api, tokens} }

type remote struct {
	api    xasov1.NodeServiceClient
	tokens Tokens
}

func (r remote) ListProcedures(ctx context.Context, q *xasov1.ListProceduresRequest) (*xasov1.ListProceduresResponse, error) {
	return r.api.ListProcedures(r.tokens.Outgoing(ctx), q)
}

func (r remote) CreateDossier(ctx context.Context, q *xasov1.CreateDossierRequest) (*xasov1.CreateDossierResponse, error) {
	return r.api.CreateDossier(r.tokens.Outgoing(ctx), q)
}

func (r remote) TransitionDossier(ctx context.Context, q *xasov1.TransitionDossierRequest) (*xasov1.TransitionDossierResponse, error) {
	return r.api.TransitionDossier(r.tokens.Outgoing(ctx), q)
}

func (r remote) ListDossiers(ctx context.Context, q *xasov1.ListDossiersRequest) (*xasov1.ListDossiersResponse, error) {
	return r.api.ListDossiers(r.tokens.Outgoing(ctx), q)
}

// InProcess is a node's service, in the same process, as a Client: as
// puts the acting official into each call's context as the node expects
// (node.ActAs).
func InProcess(srv xasov1.NodeServiceServer, as func(ctx context.Context, name string, role xasov1.Role) context.Context) Client {
	return inProcess{srv, as}
}

type inProcess struct {
	srv xasov1.NodeServiceServer
	as  func(ctx context.Context, name string, role xasov1.Role) context.Context
}

func (p inProcess) ctx(ctx context.Context) context.Context {
	if o, ok := ActingOfficial(ctx); ok {
		return p.as(ctx, o.Name, o.Role)
	}
	return ctx
}

func (p inProcess) ListProcedures(ctx context.Context, q *xasov1.ListProceduresRequest) (*xasov1.ListProceduresResponse, error) {
	return p.srv.ListProcedures(p.ctx(ctx), q)
}

func (p inProcess) CreateDossier(ctx context.Context, q *xasov1.CreateDossierRequest) (*xasov1.CreateDossierResponse, error) {
	return p.srv.CreateDossier(p.ctx(ctx), q)
}

func (p inProcess) TransitionDossier(ctx context.Context, q *xasov1.TransitionDossierRequest) (*xasov1.TransitionDossierResponse, error) {
	return p.srv.TransitionDossier(p.ctx(ctx), q)
}

func (p inProcess) ListDossiers(ctx context.Context, q *xasov1.ListDossiersRequest) (*xasov1.ListDossiersResponse, error) {
	return p.srv.ListDossiers(p.ctx(ctx), q)
}

// Clerks is a simulated commune centre.
type Clerks struct {
	api   Client
	rng   *rand.Rand
	log   *slog.Logger
	procs []*xasov1.Procedure
	open  []*xasov1.Dossier
	steps int
	// TransferTo lists communes this centre hands a few dossiers to (the
	// "any commune" service); none when empty.
	TransferTo []string
	// Citizens, when set, rate some of the dossiers once their outcome
	// exists (Decree 118/2025 art. 33).
	Citizens Citizens
	// Stats counts what was done.
	Stats Stats
}

// Stats counts the workload's calls.
type Stats struct {
	Created, Transitions, Refused, Ratings int
}

// Citizens is where the simulated citizens rate a dossier: the node's
// look-up page or desk device (node.Node's Rate).
type Citizens interface {
	Rate(ctx context.Context, code string, r *xasov1.Rating) (*xasov1.Dossier, error)
}

// ratingShare is the share of handled dossiers whose citizen rates, in
// tenths.
const ratingShare = 6

// CitizenRating is a rating a citizen might give, through the look-up page
// or (one time in three) the desk device: mostly satisfied, now and then
// not; (g) left out unless the citizen complained, (h) rated by a third,
// (i) with a word by a fifth.
func CitizenRating(rng *rand.Rand) *xasov1.Rating {
	r := &xasov1.Rating{Channel: xasov1.RatingChannel_RATING_CHANNEL_LOOKUP}
	if rng.IntN(3) == 0 {
		r.Channel = xasov1.RatingChannel_RATING_CHANNEL_DESK_DEVICE
	}
	mood := rng.IntN(10) // a whole rating leans one way
	for _, c := range dossier.Contents {
		switch c.Content {
		case xasov1.RatingContent_RATING_CONTENT_COMPLAINT_HANDLING:
			if rng.IntN(10) != 0 {
				continue
			}
		case xasov1.RatingContent_RATING_CONTENT_ONLINE_SERVICE:
			if rng.IntN(3) != 0 {
				continue
			}
		case xasov1.RatingContent_RATING_CONTENT_OTHER:
			if rng.IntN(5) != 0 {
				continue
			}
			r.Comment = comments[rng.IntN(len(comments))]
		}
		level := dossier.VerySatisfied
		switch roll := rng.IntN(10) + mood/3; {
		case roll >= 11:
			level = dossier.NotSatisfied
		case roll >= 6:
			level = dossier.Satisfied
		}
		r.Scores = append(r.Scores, &xasov1.RatingScore{Content: c.Content, Level: level})
	}
	return r
}

var comments = []string{"Cán bộ hướng dẫn tận tình.", "Thời gian chờ hơi lâu.", "Nên có thêm chỗ ngồi chờ.", "Thủ tục nhanh gọn."}

// rates says whether the citizen of d, whose outcome just came to exist,
// rates it.
func rates(rng *rand.Rand, d *xasov1.Dossier) bool {
	return dossier.Rateable(d) == nil && rng.IntN(10) < ratingShare
}

// rate has the citizen of d rate it, when they do.
func (c *Clerks) rate(ctx context.Context, d *xasov1.Dossier) error {
	if c.Citizens == nil || !rates(c.rng, d) {
		return nil
	}
	if _, err := c.Citizens.Rate(ctx, d.GetCode(), CitizenRating(c.rng)); err != nil {
		return fmt.Errorf("rate %s: %w", d.GetCode(), err)
	}
	c.Stats.Ratings++
	return nil
}

// New returns simulated clerks acting on api, with a seeded random source.
func New(api Client, seed uint64, log *slog.Logger) *Clerks {
	return &Clerks{api: api, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), log: log}
}

var (
	familyNames = []string{"Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Vũ", "Đặng", "Bùi", "Lò", "Hà", "Giàng", "Sùng"}
	middleNames = []string{"Văn", "Thị", "Đức", "Minh", "Thu", "Quốc", "Ngọc", "A"}
	givenNames  = []string{"An", "Bình", "Chi", "Dũng", "Hà", "Hùng", "Lan", "Mai", "Nam", "Phương", "Sơn", "Tú"}
)

// Step does one thing a desk would do next: receive a new dossier or act on
// an open one. It returns the error of the API call, if any other than a
// refusal the workflow explains.
func (c *Clerks) Step(ctx context.Context) error {
	if c.procs == nil {
		resp, err := c.api.ListProcedures(actAs(ctx, Clerk), &xasov1.ListProceduresRequest{PageSize: 500})
		if err != nil {
			return fmt.Errorf("list procedures: %w", err)
		}
		c.procs = resp.GetProcedures()
		if len(c.procs) == 0 {
			return fmt.Errorf("the node has no procedures")
		}
	}
	c.steps++
	if c.steps%25 == 0 {
		if err := c.takeTransfers(ctx); err != nil {
			return err
		}
	}
	if receives(c.rng, len(c.open)) {
		return c.receive(ctx)
	}
	i := c.rng.IntN(len(c.open))
	d := c.open[i]
	req, who := nextAction(c.rng, d, c.TransferTo, time.Now())
	resp, err := c.api.TransitionDossier(actAs(ctx, who), req)
	if err != nil {
		if status.Code(err) == codes.FailedPrecondition || status.Code(err) == codes.Aborted {
			c.Stats.Refused++
			c.open = append(c.open[:i], c.open[i+1:]...)
			return nil
		}
		return fmt.Errorf("%s %s: %w", req.GetAction(), d.GetCode(), err)
	}
	c.Stats.Transitions++
	nd := resp.GetDossier()
	nd.Events = nil
	if req.GetAction() == dossier.Return {
		if err := c.rate(ctx, nd); err != nil {
			return err
		}
	}
	switch nd.GetState() {
	case xasov1.State_STATE_RETURNED, xasov1.State_STATE_WITHDRAWN, xasov1.State_STATE_TRANSFERRED, xasov1.State_STATE_CLOSED_UNSUPPLEMENTED:
		c.open = append(c.open[:i], c.open[i+1:]...)
	case xasov1.State_STATE_REFUSED:
		if nd.GetReturnedTime() != nil {
			c.open = append(c.open[:i], c.open[i+1:]...)
		} else {
			c.open[i] = nd
		}
	default:
		c.open[i] = nd
	}
	return nil
}

// backlog is how many dossiers a simulated desk keeps open at most. A
// commune centre receives a few dozen dossiers a day and finishes most
// within days, so some hundreds are open at once; at the bound the desk
// works on what it has before it receives more. Without it the open set
// grew for as long as a run lasted: a dossier takes more steps than the
// one receipt in four leaves room for.
const backlog = 300

// receives says whether a desk with open dossiers open receives a new one
// next (one move in four) rather than acting on an open one.
func receives(rng *rand.Rand, open int) bool {
	return open == 0 || (open < backlog && rng.IntN(4) == 0)
}

// Run steps until ctx is done, pausing between steps.
func (c *Clerks) Run(ctx context.Context, pause time.Duration) {
	t := time.NewTicker(pause)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := c.Step(ctx); err != nil && ctx.Err() == nil {
				c.log.Warn("workload step", "err", err)
			}
		}
	}
}

func person(rng *rand.Rand) string {
	return familyNames[rng.IntN(len(familyNames))] + " " + middleNames[rng.IntN(len(middleNames))] + " " + givenNames[rng.IntN(len(givenNames))]
}

// receiveRequest is what a desk takes in for a new dossier of a random
// procedure: its required components and some of the others, in person or
// (a third of the time, where the procedure allows) online. One time in
// twenty a required component is missing and the desk records the
// written guidance instead (Decree 118/2025 art. 16(3), 17(1)(c)).
func receiveRequest(rng *rand.Rand, procs []*xasov1.Procedure) *xasov1.CreateDossierRequest {
	p := procs[rng.IntN(len(procs))]
	guide := rng.IntN(20) == 0
	var comps []*xasov1.SubmittedComponent
	var missing bool
	for _, comp := range p.GetComponents() {
		if guide && comp.GetRequired() && !missing {
			missing = true
			continue
		}
		if comp.GetRequired() || rng.IntN(2) == 0 {
			comps = append(comps, &xasov1.SubmittedComponent{Code: comp.GetCode(), Paper: true})
		}
	}
	channel := xasov1.Channel_CHANNEL_IN_PERSON
	if p.GetOnlineLevel() != xasov1.OnlineLevel_ONLINE_LEVEL_NONE && rng.IntN(3) == 0 {
		channel = xasov1.Channel_CHANNEL_ONLINE
	}
	req := &xasov1.CreateDossierRequest{
		RequestId:     fmt.Sprintf("wl-%016x", rng.Uint64()),
		ProcedureCode: p.GetCode(),
		Applicant:     &xasov1.Applicant{FullName: person(rng), IdNumber: fmt.Sprintf("0%02d%09d", rng.IntN(96)+1, rng.IntN(1e9)), Phone: fmt.Sprintf("09%08d", rng.IntN(1e8))},
		Channel:       channel,
		Components:    comps,
	}
	if missing {
		req.Outcome, req.Reason = xasov1.State_STATE_GUIDED, "Thiếu thành phần hồ sơ bắt buộc: hướng dẫn bổ sung một lần"
	}
	return req
}

func (c *Clerks) receive(ctx context.Context) error {
	req := receiveRequest(c.rng, c.procs)
	resp, err := c.api.CreateDossier(actAs(ctx, Clerk), req)
	if err != nil {
		return fmt.Errorf("receive %s: %w", req.GetProcedureCode(), err)
	}
	c.Stats.Created++
	d := resp.GetDossier()
	d.Events = nil
	if err := c.rate(ctx, d); err != nil {
		return err
	}
	if dossier.IsOpen(d.GetState()) {
		c.open = append(c.open, d)
	}
	return nil
}

// takeTransfers picks up the dossiers other communes transferred here
// (they arrive RECEIVED from central's feed).
func (c *Clerks) takeTransfers(ctx context.Context) error {
	resp, err := c.api.ListDossiers(actAs(ctx, Clerk), &xasov1.ListDossiersRequest{Filter: "state = RECEIVED", PageSize: 100})
	if err != nil {
		return fmt.Errorf("list received dossiers: %w", err)
	}
	known := map[string]bool{}
	for _, d := range c.open {
		known[d.GetCode()] = true
	}
	for _, d := range resp.GetDossiers() {
		if !known[d.GetCode()] {
			c.open = append(c.open, d)
		}
	}
	return nil
}

// nextAction chooses the action a desk would take on d at now and who
// takes it; transferTo are the communes it may hand a dossier to.
func nextAction(rng *rand.Rand, d *xasov1.Dossier, transferTo []string, now time.Time) (*xasov1.TransitionDossierRequest, Official) {
	r := &xasov1.TransitionDossierRequest{Code: d.GetCode(), ExpectedEventCount: d.GetEventCount()}
	var who Official
	officer := func(a xasov1.Action) { r.Action, who = a, Officer }
	leader := func(a xasov1.Action) { r.Action, who = a, Leader }
	clerk := func(a xasov1.Action) { r.Action, who = a, Clerk }
	roll := rng.IntN(100)
	switch d.GetState() {
	case xasov1.State_STATE_RECEIVED:
		switch {
		case roll < 3:
			clerk(xasov1.Action_ACTION_WITHDRAW)
			r.Reason = "Công dân rút hồ sơ"
		case roll < 8 && len(transferTo) > 0 && d.GetEventCount() == 1:
			clerk(xasov1.Action_ACTION_TRANSFER)
			r.TransferCommuneCode = transferTo[rng.IntN(len(transferTo))]
		default:
			clerk(xasov1.Action_ACTION_ASSIGN)
			r.Assignee = Officer.Name
		}
	case xasov1.State_STATE_IN_PROCESSING:
		// Decree 118/2025 art. 19(5), 11(2)(c): supplements are asked for
		// once, within the days after receipt the law allows.
		canAsk := d.GetSupplementRequests() == 0 && (d.GetSupplementDeadline() == nil || now.Before(d.GetSupplementDeadline().AsTime()))
		switch {
		case roll < 10 && canAsk:
			officer(xasov1.Action_ACTION_REQUEST_SUPPLEMENT)
			r.Reason = "Thiếu bản sao giấy tờ tùy thân"
		case roll < 12:
			// Art. 21: the citizen stops the procedure before the result.
			clerk(xasov1.Action_ACTION_WITHDRAW)
			r.Reason = "Công dân yêu cầu dừng thực hiện thủ tục"
		case roll < 13:
			leader(xasov1.Action_ACTION_REFUSE)
			r.Reason = "Không đủ điều kiện theo quy định"
		default:
			officer(xasov1.Action_ACTION_SUBMIT)
		}
	case xasov1.State_STATE_AWAITING_SUPPLEMENT:
		clerk(xasov1.Action_ACTION_RECEIVE_SUPPLEMENT)
	case xasov1.State_STATE_AWAITING_APPROVAL:
		if roll < 8 {
			leader(xasov1.Action_ACTION_SEND_BACK)
			r.Reason = "Đề nghị hoàn thiện dự thảo"
		} else {
			leader(xasov1.Action_ACTION_APPROVE)
		}
	default: // RESULT_READY, REFUSED
		clerk(xasov1.Action_ACTION_RETURN)
	}
	return r, who
}

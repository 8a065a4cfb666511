package central

import (
	"encoding/binary"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	xasov1 "github.com/xaso/xaso/api/proto/xaso/v1"
	"github.com/xaso/xaso/dossier"
	"github.com/xaso/xaso/sample"
)

// The state machine's apply driven with a commune's node commands mutated
// field by field, through real log entries: whatever a stolen node key
// sends, apply does not panic, a record it refuses changes nothing but the
// sender's high-water mark (its contact and its block), and another
// commune's keys are never touched.

const (
	fuzzA    = "00004" // the commune whose commands are mutated
	fuzzB    = "00008" // another commune with a history: never touched
	fuzzC    = "00025" // registered, without records: a commune to transfer to
	fuzzBase = 30      // honest records of A and of B in the starting state
)

// applyHarness is a state with a history of two communes (A and B) and a
// third registered one (C), and A's honest next records, ready to be
// mutated. main takes the mutated commands; ref, at the same starting
// state, takes what main should have taken of them.
type applyHarness struct {
	main, ref *applier
	base      map[string]string          // the starting state (a dump)
	next      []*xasov1.OutboxRecord     // A's honest records after the starting state
	head      []byte                     // the hash of A's last record in the starting state
	dossiers  map[string]*xasov1.Dossier // every dossier of the starting state, as folded
	aCodes    []string                   // A's dossier codes, sorted
	bCodes    []string                   // B's dossier codes, sorted
	received  string                     // a dossier of A that is RECEIVED (one a TRANSFER may take)
	events    []*xasov1.Event            // every event of the starting state, to transplant
}

func newApplyHarness(t testing.TB) *applyHarness {
	t.Helper()
	h := &applyHarness{main: &applier{f: openTestFSM(t)}, dossiers: map[string]*xasov1.Dossier{}}
	registerSample(t, h.main, fuzzA, fuzzB, fuzzC)
	recsA := leavingOneReceived(t, fuzzA, fuzzBase+4)
	recsB := records(t, fuzzB, 2, fuzzBase)
	for i, r := range h.main.apply(t, appendEvents(fuzzA, recsA[:fuzzBase]...), appendEvents(fuzzB, recsB...)) {
		if r.GetCode() != 0 || r.GetAccepted() != fuzzBase {
			t.Fatalf("starting history %d: %v", i, r)
		}
	}
	h.next, h.head = recsA[fuzzBase:], recsA[fuzzBase-1].GetHash()
	for _, rec := range append(slices.Clone(recsA[:fuzzBase]), recsB...) {
		d, ok := h.dossiers[rec.GetDossierCode()]
		if !ok {
			d = &xasov1.Dossier{}
			h.dossiers[rec.GetDossierCode()] = d
		}
		dossier.Apply(d, rec.GetEvent())
		h.events = append(h.events, rec.GetEvent())
	}
	for code, d := range h.dossiers {
		if d.GetCommuneCode() == fuzzA {
			h.aCodes = append(h.aCodes, code)
		} else {
			h.bCodes = append(h.bCodes, code)
		}
	}
	slices.Sort(h.aCodes)
	slices.Sort(h.bCodes)
	for _, code := range h.aCodes {
		if h.dossiers[code].GetState() == dossier.Received {
			h.received = code
			break
		}
	}
	if h.received == "" || len(h.bCodes) == 0 {
		t.Fatalf("the starting history has no RECEIVED dossier of %s (%d dossiers) or none of %s", fuzzA, len(h.aCodes), fuzzB)
	}
	h.base = dump(t, h.main.f)
	h.ref = &applier{f: openTestFSM(t), index: h.main.index}
	return h
}

// leavingOneReceived returns n honest records of commune from the first
// seed whose first fuzzBase records leave one of its dossiers RECEIVED,
// which the attacks transplant events onto: the seed follows the
// workload and the catalogue rather than being fixed by hand.
func leavingOneReceived(t testing.TB, commune string, n int) []*xasov1.OutboxRecord {
	t.Helper()
	for seed := uint64(1); seed <= 64; seed++ {
		recs := records(t, commune, seed, n)
		held := map[string]*xasov1.Dossier{}
		for _, rec := range recs[:fuzzBase] {
			d, ok := held[rec.GetDossierCode()]
			if !ok {
				d = &xasov1.Dossier{}
				held[rec.GetDossierCode()] = d
			}
			dossier.Apply(d, rec.GetEvent())
		}
		for _, d := range held {
			if d.GetState() == dossier.Received {
				return recs
			}
		}
	}
	t.Fatalf("no seed from 1 to 64 leaves a dossier of %s RECEIVED after %d records", commune, fuzzBase)
	return nil
}

// rollback puts f's state back to the state to (a dump), but for the
// applied index, and empties apply's caches: a restore of a snapshot
// without the cost of clearing the store.
func rollback(t testing.TB, f *FSM, to map[string]string) {
	t.Helper()
	cur := dump(t, f)
	err := f.db.Update(func(txn *badger.Txn) error {
		for k := range cur {
			if _, ok := to[k]; !ok && k != keyApplied {
				if err := txn.Delete([]byte(k)); err != nil {
					return err
				}
			}
		}
		for k, v := range to {
			if w, ok := cur[k]; (!ok || w != v) && k != keyApplied {
				if err := txn.Set([]byte(k), []byte(v)); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	f.hot.reset()
}

// command wraps A's records as the replication service proposes them.
func command(recs []*xasov1.OutboxRecord, nodeLast int64) *xasov1.CentralCommand {
	cmd := appendEvents(fuzzA, recs...)
	cmd.GetAppendEvents().NodeLastSequence = nodeLast
	cmd.Time, cmd.Actor = timestamppb.New(testEventsProposed), "node:node-"+fuzzA
	return cmd
}

// chain sets the records' prev_hash and hash as an honest node would,
// from A's head on, except those the caller fixed.
func (h *applyHarness) chain(recs []*xasov1.OutboxRecord, fixedPrev, fixedHash map[int]bool) {
	prev := h.head
	for i, r := range recs {
		if !fixedPrev[i] {
			r.PrevHash = prev
		}
		if !fixedHash[i] {
			if sum, err := dossier.RecordHash(r); err == nil {
				r.Hash = sum
			}
		}
		prev = r.GetHash()
	}
}

// Keys of the state: which belong to a commune, which every command or
// contact writes.

// communeKey says whether k is one of commune's own keys: its registration,
// settings, high-water mark, records, dossiers (and their due index), its
// access log's keys and its report rows.
func communeKey(k, commune string) bool {
	switch {
	case k == prefixCommune+commune, k == prefixSettings+commune, k == prefixHighWater+commune:
		return true
	case strings.HasPrefix(k, prefixRecord+commune+"/"), strings.HasPrefix(k, prefixDossier+commune+"-"):
		return true
	case strings.HasPrefix(k, prefixAccess+commune+"/"), strings.HasPrefix(k, prefixAccessCode+commune+"/"):
		return true
	case strings.HasPrefix(k, prefixDue) && len(k) > len(prefixDue)+8 && strings.HasPrefix(k[len(prefixDue)+8:], commune+"-"):
		return true
	case strings.HasPrefix(k, levelPair) && strings.Contains(k[len(levelPair):], "/"+commune+"/"):
		return true
	case strings.HasPrefix(k, levelCommune) && strings.HasSuffix(k, "/"+commune):
		return true
	}
	return false
}

// only keeps the keys for which keep holds.
func only(m map[string]string, keep func(k string) bool) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		if keep(k) {
			out[k] = v
		}
	}
	return out
}

// beyondContact is the state without what a refused batch of commune may
// write: its high-water mark (contact time, block), the audit records and
// the applied index.
func beyondContact(m map[string]string, commune string) map[string]string {
	return only(m, func(k string) bool {
		return k != prefixHighWater+commune && k != keyApplied && !strings.HasPrefix(k, prefixAudit)
	})
}

// changedBeyondContact is the comparison of the state before and after a
// batch of commune that was refused: nil when nothing but the sender's
// high-water mark (and the log's own keys) changed.
func changedBeyondContact(before, after map[string]string, commune string) error {
	return sameState(beyondContact(before, commune), beyondContact(after, commune))
}

// touchedCommune is nil when none of commune's keys changed.
func touchedCommune(before, after map[string]string, commune string) error {
	keep := func(k string) bool { return communeKey(k, commune) }
	if err := sameState(only(before, keep), only(after, keep)); err != nil {
		return fmt.Errorf("commune %s's state: %w", commune, err)
	}
	return nil
}

func highWater(t testing.TB, m map[string]string, commune string) *xasov1.NodeStream {
	t.Helper()
	hw := &xasov1.NodeStream{}
	if err := proto.Unmarshal([]byte(m[prefixHighWater+commune]), hw); err != nil {
		t.Fatalf("high-water mark of %s: %v", commune, err)
	}
	return hw
}

// outcome is what one mutated command did, checked.
type outcome struct {
	res     *xasov1.CommandResult
	changed bool // the state changed beyond A's high-water mark
}

// try applies cmd to main, at the starting state, and checks what it did
// against the rules above; each broken rule is reported through t. It
// puts main back at the starting state.
func (h *applyHarness) try(t testing.TB, cmd *xasov1.CentralCommand, what string) outcome {
	t.Helper()
	before := h.base
	res := h.main.apply(t, cmd)[0]
	after := dump(t, h.main.f)
	recs := cmd.GetAppendEvents().GetRecords()
	fail := func(format string, args ...any) {
		t.Helper()
		t.Errorf("%s: %s; result %v", what, fmt.Sprintf(format, args...), shortResult(res))
	}
	if err := touchedCommune(before, after, fuzzB); err != nil {
		fail("a command of %s changed another commune's keys: %v", fuzzA, err)
	}
	hw := highWater(t, after, fuzzA)
	if res.GetNextSequence() != hw.GetLastSequence()+1 || !proto.Equal(res.GetBlocked(), hw.GetBlocked()) {
		fail("the answer (next %d, block %v) is not the high-water mark (last %d, block %v)", res.GetNextSequence(), res.GetBlocked(), hw.GetLastSequence(), hw.GetBlocked())
	}
	if got := hw.GetLastSequence() - highWater(t, before, fuzzA).GetLastSequence(); got != int64(res.GetAccepted()) {
		fail("the mark moved by %d for %d records accepted", got, res.GetAccepted())
	}
	checkFeed(t, before, after, fail)
	if res.GetCode() != 0 {
		processed := int(res.GetAccepted() + res.GetDuplicates())
		switch {
		case processed >= len(recs):
			fail("refused, yet every record was taken or dropped as a duplicate")
		case res.GetBlocked() == nil && !strings.Contains(res.GetMessage(), "leaves a gap"):
			fail("a record refused for its content did not block the chain")
		case res.GetBlocked() != nil && (res.GetBlocked().GetSequence() != hw.GetLastSequence()+1 || res.GetBlocked().GetReason() == ""):
			// A chain is blocked where it stands: the next sequence central
			// expects, whatever sequence the refused record claims.
			fail("blocked at %d (%q), the chain stands at %d", res.GetBlocked().GetSequence(), res.GetBlocked().GetReason(), hw.GetLastSequence())
		}
		// What the records before the refused one make, and nothing more.
		want := before
		if processed > 0 && processed <= len(recs) {
			rollback(t, h.ref.f, before)
			// At main's index: feed items name the entry that made them.
			h.ref.index = h.main.index - 1
			prefix := command(recs[:processed], cmd.GetAppendEvents().GetNodeLastSequence())
			r := h.ref.apply(t, prefix)[0]
			if r.GetCode() != 0 || r.GetAccepted() != res.GetAccepted() {
				fail("the records before the refused one, alone, give %v", shortResult(r))
			}
			want = dump(t, h.ref.f)
		}
		if err := changedBeyondContact(want, after, fuzzA); err != nil {
			fail("a refused record changed the state: %v", err)
		}
	}
	out := outcome{res: res, changed: changedBeyondContact(before, after, fuzzA) != nil}
	if b := hw.GetBlocked(); b != nil {
		// The operator can lift the block, and that changes nothing else.
		un := &xasov1.CentralCommand{Time: timestamppb.New(testNow), Command: &xasov1.CentralCommand_UnblockChain{UnblockChain: &xasov1.UnblockChainCommand{
			CommuneCode: fuzzA, Sequence: b.GetSequence()}}}
		if r := h.main.apply(t, un)[0]; r.GetCode() != 0 {
			fail("the block cannot be lifted: %v", r)
		} else if err := changedBeyondContact(after, dump(t, h.main.f), fuzzA); err != nil || highWater(t, dump(t, h.main.f), fuzzA).GetBlocked() != nil {
			fail("lifting the block: %v", err)
		}
	}
	rollback(t, h.main.f, h.base)
	return out
}

// checkFeed: a feed item a command of A adds is a transfer addressed to
// one registered commune other than A.
func checkFeed(t testing.TB, before, after map[string]string, fail func(string, ...any)) {
	t.Helper()
	for k, v := range after {
		if !strings.HasPrefix(k, prefixFeed) || before[k] == v {
			continue
		}
		it := &xasov1.FeedItem{}
		if err := proto.Unmarshal([]byte(v), it); err != nil {
			fail("feed item %x: %v", k, err)
			continue
		}
		to := it.GetCommuneCode()
		if _, registered := after[prefixCommune+to]; it.GetTransfer() == nil || it.GetBroadcast() || to == fuzzA || !registered {
			fail("a feed item for %q (broadcast %v, transfer %v)", to, it.GetBroadcast(), it.GetTransfer() != nil)
		}
	}
}

func shortResult(r *xasov1.CommandResult) string {
	return fmt.Sprintf("code %v accepted %d duplicates %d next %d blocked %v: %s", codes.Code(r.GetCode()), r.GetAccepted(), r.GetDuplicates(), r.GetNextSequence(),
		r.GetBlocked().GetSequence(), dossier.Short(r.GetMessage(), 300))
}

// mutator turns the fuzzer's bytes into choices; when they run out every
// choice is the first.
type mutator struct {
	in  []byte
	log []string
}

func (m *mutator) byte() byte {
	if len(m.in) == 0 {
		return 0
	}
	b := m.in[0]
	m.in = m.in[1:]
	return b
}

func (m *mutator) intn(n int) int {
	if n <= 1 {
		return 0
	}
	if n <= 256 {
		return int(m.byte()) % n
	}
	return int(binary.BigEndian.Uint16([]byte{m.byte(), m.byte()})) % n
}

func (m *mutator) u64() uint64 {
	var b [8]byte
	for i := range b {
		b[i] = m.byte()
	}
	return binary.BigEndian.Uint64(b[:])
}

func pick[T any](m *mutator, xs ...T) T { return xs[m.intn(len(xs))] }

// strOr is one of xs, or (the choice after them) a string of str.
func (m *mutator) strOr(xs ...string) string {
	if i := m.intn(len(xs) + 1); i < len(xs) {
		return xs[i]
	}
	return m.str()
}

// int64Or is one of xs, or (the choice after them) any int64.
func (m *mutator) int64Or(xs ...int64) int64 {
	if i := m.intn(len(xs) + 1); i < len(xs) {
		return xs[i]
	}
	return int64(m.u64())
}

// str is a string of a length around every bound central checks (and
// 70,000 bytes, beyond a record's), of letters, digits, controls, line
// breaks, multi-byte characters or the fuzzer's own bytes.
func (m *mutator) str() string {
	n := pick(m, 0, 1, 5, 12, 40, 41, 64, 65, 128, 129, 200, 201, 255, 256, 500, 501, 2000, 2001, 70_000, -1)
	if n < 0 {
		n = m.intn(1 << 16)
	}
	unit := pick(m, "a", "7", "\x00", "\n", "ệ", " ", "/", "-")
	if len(m.in) > 2 && m.intn(4) == 0 {
		k := 1 + m.intn(16)
		unit = string(m.in[:min(k, len(m.in))])
	}
	s := strings.Repeat(unit, n/len(unit)+1)[:n]
	return strings.ToValidUTF8(s, "?")
}

func (m *mutator) seq(last int64) int64 {
	return m.int64Or(0, -1, 1, last, last+1, last+2, last+100, math.MaxInt64, math.MinInt64)
}

func (m *mutator) enum() int32 {
	if m.intn(3) == 0 {
		return int32(m.u64())
	}
	return int32(m.intn(20)) - 1
}

// time is a time around central's bounds: before 2015, far ahead of the
// proposer's clock, invalid, or ordinary.
func (m *mutator) time() *timestamppb.Timestamp {
	switch m.intn(12) {
	case 0:
		return nil
	case 1:
		return &timestamppb.Timestamp{}
	case 2:
		return timestamppb.New(time.Date(2014, 12, 31, 23, 59, 59, 0, time.UTC))
	case 3:
		return timestamppb.New(time.Date(2015, 1, 1, 0, 0, 0, 0, time.UTC))
	case 4:
		return timestamppb.New(testEventsProposed.Add(23 * time.Hour))
	case 5:
		return timestamppb.New(testEventsProposed.Add(25 * time.Hour))
	case 6:
		return timestamppb.New(time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC))
	case 7:
		return &timestamppb.Timestamp{Seconds: 253402300800} // year 10000: out of range
	case 8:
		return &timestamppb.Timestamp{Seconds: testNow.Unix(), Nanos: -1}
	case 9:
		return &timestamppb.Timestamp{Seconds: int64(m.u64()), Nanos: int32(m.u64())}
	default:
		return timestamppb.New(testNow.Add(time.Duration(m.intn(1<<16)) * time.Minute))
	}
}

func (m *mutator) hash() []byte {
	n := pick(m, 32, 0, 31, 33, 64, -1)
	if n < 0 {
		n = m.intn(100)
	}
	out := make([]byte, n)
	for i := range out {
		out[i] = m.byte()
	}
	return out
}

func (m *mutator) sha() string {
	switch m.intn(4) {
	case 0:
		return m.str()
	case 1:
		return strings.Repeat("A", 64)
	default:
		return fmt.Sprintf("%064x", m.u64())
	}
}

// count is a list's length around MaxListItems, or far beyond it.
func (m *mutator) count() int {
	if n := pick(m, 0, 1, 2, 100, 101, 1000, 5000, -1); n >= 0 {
		return n
	}
	return m.intn(300)
}

func (m *mutator) commune() string {
	return pick(m, fuzzA, fuzzB, fuzzC, "", "99999", "0000", "000040", "abcde", "00004\n")
}

// receiptFor makes ev a RECEIVE whose receipt mutate then works on.
func receiptOf(ev *xasov1.Event, code string) *xasov1.Receipt {
	if ev.GetReceipt() == nil {
		ev.Receipt = &xasov1.Receipt{Code: code, CommuneCode: fuzzA, ProcedureCode: sample.Procedures()[0].GetCode(), ProcedureVersion: 1,
			ProcedureName: "x", ProcessingDays: 5, Applicant: &xasov1.Applicant{FullName: "Lò Văn Páo"}, Channel: xasov1.Channel_CHANNEL_IN_PERSON}
	}
	return ev.Receipt
}

// build makes A's next command from the fuzzer's bytes: A's honest next
// records, each field of which the bytes may change, with the chain made
// whole again unless the bytes say otherwise.
func (h *applyHarness) build(data []byte) (*xasov1.CentralCommand, []string) {
	m := &mutator{in: data}
	n := 1 + m.intn(len(h.next))
	recs := make([]*xasov1.OutboxRecord, n)
	for i := range recs {
		recs[i] = proto.Clone(h.next[i]).(*xasov1.OutboxRecord)
	}
	last := int64(fuzzBase)
	nodeLast := last + int64(n)
	fixedPrev, fixedHash := map[int]bool{}, map[int]bool{}
	rechain := true
	for ops := 0; len(m.in) > 0 && ops < 8; ops++ {
		i := m.intn(len(recs))
		rec := recs[i]
		ev := rec.Event
		if ev == nil {
			// An access record keeps no event: the event's changes then
			// change nothing.
			ev = &xasov1.Event{}
			if rec.Access == nil {
				rec.Event = ev
			}
		}
		op := m.intn(32)
		m.log = append(m.log, fmt.Sprintf("op %d on record %d", op, i))
		switch op {
		case 0:
			rec.DossierCode = m.str()
		case 1:
			switch m.intn(5) {
			case 0:
				rec.DossierCode = h.bCodes[m.intn(len(h.bCodes))]
			case 1:
				rec.DossierCode = h.aCodes[m.intn(len(h.aCodes))]
			default:
				rec.DossierCode = pick(m, fuzzC+"-260302-0001", fuzzA+"-260302-9999", fuzzA+"-991332-0001")
			}
		case 2:
			rec.Sequence = m.seq(last)
		case 3:
			rec.CommuneCode = m.commune()
		case 4:
			rec.PrevHash, fixedPrev[i] = m.hash(), true
		case 5:
			rec.Hash, fixedHash[i] = m.hash(), true
		case 6:
			ev.Action = xasov1.Action(m.enum())
		case 7:
			ev.Role = xasov1.Role(m.enum())
		case 8:
			ev.State = xasov1.State(m.enum())
		case 9:
			ev.Time = m.time()
		case 10:
			ev.Actor = m.str()
		case 11:
			ev.Reason = m.str()
		case 12:
			ev.Assignee = m.str()
		case 13:
			ev.TransferCommuneCode = m.strOr(fuzzA, fuzzB, fuzzC, "", "99999", "0000", "000040", "abcde", "00004\n")
		case 14:
			ev.Sequence = m.seq(int64(m.intn(8)))
		case 15:
			if m.intn(2) == 0 {
				ev.DueTime = m.time()
			} else {
				ev.AppointmentTime = m.time()
			}
		case 16:
			if m.intn(2) == 0 {
				ev.Satisfaction = xasov1.Satisfaction(m.enum())
			} else {
				ev.Timeliness = xasov1.Timeliness(m.enum())
			}
		case 17:
			ev.Components = nil
			for range m.count() {
				c := &xasov1.SubmittedComponent{Code: m.strOr("TK"), Paper: m.intn(2) == 0}
				for range m.intn(4) * m.count() / 2 {
					c.AttachmentSha256 = append(c.AttachmentSha256, m.sha())
				}
				ev.Components = append(ev.Components, c)
			}
		case 18:
			ev.Attachments = nil
			for range m.count() {
				ev.Attachments = append(ev.Attachments, &xasov1.AttachmentRef{Sha256: m.sha(), Filename: m.strOr("a.pdf"), ContentType: m.strOr("application/pdf"),
					SizeBytes: m.int64Or(1, -1, dossier.MaxFileBytes, dossier.MaxFileBytes+1), ComponentCode: m.strOr("", "TK"), Result: m.intn(2) == 0})
			}
		case 19:
			rc := receiptOf(ev, rec.GetDossierCode())
			switch m.intn(10) {
			case 0:
				rc.Code = m.strOr(h.bCodes[0], fuzzB+"-260302-0777")
			case 1:
				rc.CommuneCode = m.commune()
			case 2:
				rc.ProcedureCode = m.strOr("9.999999", "")
			case 3:
				rc.ProcedureVersion, rc.ProcessingDays = int32(m.u64()), int32(m.u64())
			case 4:
				rc.SupplementClock = xasov1.SupplementClock(m.enum())
			case 5:
				rc.Channel = xasov1.Channel(m.enum())
			case 6:
				rc.Applicant = &xasov1.Applicant{FullName: m.str(), IdNumber: m.strOr("", "001190012345"), Phone: m.str(), Email: m.str(), Address: m.str()}
			case 7:
				rc.ProcedureName = m.str()
			case 8:
				rc.Applicant = nil
			default:
				ev.Receipt = nil
			}
		case 20:
			// Another event of the history (another dossier's, another
			// commune's) in this record.
			rec.Event = proto.Clone(h.events[m.intn(len(h.events))]).(*xasov1.Event)
			if m.intn(2) == 0 && rec.Event.GetReceipt() != nil {
				rec.DossierCode = rec.Event.GetReceipt().GetCode()
			}
		case 21:
			// A TRANSFER of A's RECEIVED dossier, to anyone.
			d := h.dossiers[h.received]
			rec.DossierCode = h.received
			rec.Event = &xasov1.Event{Sequence: d.GetEventCount() + 1, Action: dossier.Transfer, Actor: "motcua.1", Role: dossier.Clerk, Time: timestamppb.New(testNow.AddDate(0, 1, 0)),
				State: dossier.Transferred, Assignee: d.GetAssignee(), DueTime: d.GetDueTime(), TransferCommuneCode: m.strOr("", "99999", fuzzB, fuzzC, fuzzA)}
		case 22:
			// A step the workflow refuses, or a second RECEIVE of a code.
			code := h.aCodes[m.intn(len(h.aCodes))]
			d := h.dossiers[code]
			rec.DossierCode = code
			switch m.intn(3) {
			case 0:
				rec.Event = &xasov1.Event{Sequence: d.GetEventCount() + 1, Action: dossier.Approve, Actor: "motcua.1", Role: dossier.Clerk, Time: timestamppb.New(testNow.AddDate(0, 1, 0)),
					State: dossier.ResultReady, Assignee: d.GetAssignee(), DueTime: d.GetDueTime(), Timeliness: dossier.OnTime}
			case 1:
				rec.Event = &xasov1.Event{Sequence: d.GetEventCount() + 1, Action: dossier.Assign, Actor: "tuphap.1", Role: dossier.Officer, Time: timestamppb.New(testNow.AddDate(0, 1, 0)),
					State: dossier.InProcessing, Assignee: "tuphap.1", DueTime: d.GetDueTime()}
			default:
				for _, e := range h.events {
					if e.GetReceipt().GetCode() == code {
						rec.Event = proto.Clone(e).(*xasov1.Event)
					}
				}
			}
		case 23:
			// Many records: copies of this one.
			for range pick(m, 2, 10, 100, 1000) {
				recs = append(recs, proto.Clone(rec).(*xasov1.OutboxRecord))
			}
		case 24:
			j := m.intn(len(recs))
			recs[i], recs[j] = recs[j], recs[i]
		case 25:
			nodeLast = m.seq(last)
		case 26:
			rec.Event = nil
		case 27:
			rechain = false
		case 28:
			// Fields this version does not know, of any size.
			raw := protowire.AppendTag(nil, protowire.Number(100+m.intn(1000)), protowire.BytesType)
			ev.ProtoReflect().SetUnknown(protowire.AppendBytes(raw, []byte(m.str())))
		case 29:
			// An honest access entry instead of the event (numbered below).
			rec.Event, rec.DossierCode, rec.Access = nil, "", honestAccess(0, h.aCodes[0], h.bCodes[0])
		case 30:
			if rec.Access == nil {
				rec.Access = &xasov1.AccessEntry{}
			}
			a := rec.Access
			switch m.intn(11) {
			case 0:
				a.Sequence = m.seq(0)
			case 1:
				a.Time = m.time()
			case 2:
				a.Name = m.str()
			case 3:
				a.Role = xasov1.Role(m.enum())
			case 4:
				a.Via = m.strOr("session", "token", "")
			case 5:
				a.ClientAddress = m.str()
			case 6:
				a.Kind = xasov1.AccessKind(m.enum())
			case 7:
				a.DossierCodes = nil
				for range m.count() {
					a.DossierCodes = append(a.DossierCodes, m.strOr(h.aCodes[0], h.bCodes[0], fuzzC+"-260302-0001"))
				}
			case 8:
				a.Filter = m.str()
			case 9:
				a.AttachmentSha256 = m.sha()
			default:
				a.Count = int32(m.int64Or(0, 1, 2, -1, dossier.MaxAccessCount, dossier.MaxAccessCount+1))
			}
		default:
			recs = recs[:max(1, i)]
		}
	}
	// Access entries not numbered yet follow A's log, which is empty in
	// the starting state.
	var access int64
	for _, rec := range recs {
		if a := rec.GetAccess(); a != nil && a.GetSequence() == 0 {
			access++
			a.Sequence = access
		}
	}
	if rechain {
		h.chain(recs, fixedPrev, fixedHash)
	}
	return command(recs, nodeLast), m.log
}

// FuzzApplyMutatedEvents: a commune's node command, mutated, applied
// through real log entries to a state with two communes' histories, never
// panics; a record refused changes nothing but the sender's high-water
// mark; the other commune's keys are never touched (see applyHarness.try).
func FuzzApplyMutatedEvents(f *testing.F) {
	// The bytes: the number of records (0: one), then for each change the
	// record (no byte when there is one), the change, and its choices.
	for _, seed := range [][]byte{
		{},                                 // A's honest next record: taken
		{3},                                // its 4 honest next records: taken
		{0, 0, 18, 0},                      // a 70,000-byte dossier code
		{0, 19, 2, 2, 18, 0},               // a 70,000-byte procedure code
		{0, 21, 0},                         // TRANSFER to ""
		{0, 21, 1},                         // TRANSFER to 99999, not registered
		{0, 21, 3},                         // TRANSFER to a registered commune: taken
		{0, 19, 0, 0, 1, 0, 0},             // a receipt under another commune's code
		{0, 6, 0, 0, 0, 0, 0, 0, 0, 0, 99}, // action 99
		{0, 9, 6},                          // a time in 2100
		{0, 9, 2},                          // a time in 2014
		{0, 22, 0, 0},                      // APPROVE by a CLERK
		{0, 22, 0, 1},                      // ASSIGN by an OFFICER
		{0, 22, 0, 2},                      // a second RECEIVE of a code
		{0, 17, 6},                         // 5,000 components
		{0, 23, 3},                         // 1,001 copies of the record
		{0, 27, 11, 2, 0},                  // the reason changed, the chain not remade
		{0, 2, 0},                          // sequence 0
		{0, 4, 1},                          // no prev_hash
		{0, 2, 5},                          // a gap
		{1, 1, 2, 0},                       // two records, the second of sequence 0
		{0, 28, 0, 0, 18, 0},               // 70,000 bytes of fields this version does not know
		{0, 26},                            // no event
		{0, 19, 9},                         // a receipt removed
		{0, 29},                            // an honest access entry: taken
		{1, 1, 29},                         // an event, then an access entry: taken
		{0, 29, 30, 0, 5},                  // an access entry numbered 2, not 1
		{0, 29, 30, 1, 6},                  // an access entry in 2100
		{0, 29, 30, 7, 5},                  // 1,000 dossiers named
		{0, 29, 30, 2, 18, 0},              // a 70,000-byte reader's name
		{0, 29, 3, 1},                      // an access entry of another commune
		{0, 29, 30, 6, 0, 99},              // an unknown kind
		{0, 29, 1, 0},                      // an access entry with a dossier code
	} {
		f.Add(seed)
	}
	h := newApplyHarness(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		cmd, log := h.build(data)
		if _, err := proto.Marshal(cmd); err != nil {
			return // not a command a log entry can carry
		}
		h.try(t, cmd, strings.Join(log, ", "))
	})
}

// knownAttacks are records a stolen node key has been seen, or is
// expected, to send: each is A's honest next record with one thing
// changed, chained as an honest node would chain it.
func knownAttacks(h *applyHarness) []struct {
	name   string
	change func(rec *xasov1.OutboxRecord)
	code   codes.Code
} {
	bCode := h.bCodes[0]
	received := h.dossiers[h.received]
	transfer := func(to string) func(rec *xasov1.OutboxRecord) {
		return func(rec *xasov1.OutboxRecord) {
			rec.DossierCode = h.received
			rec.Event = &xasov1.Event{Sequence: received.GetEventCount() + 1, Action: dossier.Transfer, Actor: "motcua.1", Role: dossier.Clerk,
				Time: timestamppb.New(testNow.AddDate(0, 1, 0)), State: dossier.Transferred, DueTime: received.GetDueTime(), TransferCommuneCode: to}
		}
	}
	// access makes the record A's first access entry, then changes it.
	access := func(change func(rec *xasov1.OutboxRecord)) func(rec *xasov1.OutboxRecord) {
		return func(rec *xasov1.OutboxRecord) {
			rec.Event, rec.DossierCode, rec.Access = nil, "", honestAccess(1, h.aCodes[0], bCode)
			change(rec)
		}
	}
	receipt := func(rec *xasov1.OutboxRecord) *xasov1.Receipt {
		for _, e := range h.events {
			if e.GetReceipt().GetCommuneCode() == fuzzA {
				rec.Event = proto.Clone(e).(*xasov1.Event)
				rec.Event.Receipt.Code = fuzzA + "-260302-0901"
				rec.DossierCode = rec.Event.Receipt.Code
				return rec.Event.Receipt
			}
		}
		panic("no receipt of " + fuzzA)
	}
	return []struct {
		name   string
		change func(rec *xasov1.OutboxRecord)
		code   codes.Code
	}{
		{"70,000-byte dossier code", func(r *xasov1.OutboxRecord) { r.DossierCode = strings.Repeat("1", 70_000) }, codes.InvalidArgument},
		{"70,000-byte procedure code", func(r *xasov1.OutboxRecord) { receipt(r).ProcedureCode = strings.Repeat("P", 70_000) }, codes.InvalidArgument},
		{"41-byte procedure code", func(r *xasov1.OutboxRecord) { receipt(r).ProcedureCode = strings.Repeat("P", 41) }, codes.InvalidArgument},
		{"TRANSFER to \"\"", transfer(""), codes.InvalidArgument},
		{"TRANSFER to unregistered 99999", transfer("99999"), codes.FailedPrecondition},
		{"TRANSFER to itself", transfer(fuzzA), codes.InvalidArgument},
		{"receipt under another commune's code", func(r *xasov1.OutboxRecord) {
			rc := receipt(r)
			rc.Code, r.DossierCode = fuzzB+"-260302-0901", fuzzB+"-260302-0901"
		}, codes.PermissionDenied},
		{"receipt in another commune's name", func(r *xasov1.OutboxRecord) { receipt(r).CommuneCode = fuzzB }, codes.PermissionDenied},
		{"receipt of a code another commune holds", func(r *xasov1.OutboxRecord) {
			rc := receipt(r)
			rc.Code, r.DossierCode = bCode, bCode
		}, codes.InvalidArgument},
		{"receipt of a code another commune holds, numbered after its events", func(r *xasov1.OutboxRecord) {
			rc := receipt(r)
			rc.Code, r.DossierCode = bCode, bCode
			r.Event.Sequence = h.dossiers[bCode].GetEventCount() + 1
		}, codes.FailedPrecondition},
		{"event on another commune's dossier", func(r *xasov1.OutboxRecord) {
			d := h.dossiers[bCode]
			r.DossierCode = bCode
			r.Event = &xasov1.Event{Sequence: d.GetEventCount() + 1, Action: dossier.Withdraw, Actor: "motcua.1", Role: dossier.Clerk, Reason: "x",
				Time: timestamppb.New(testNow.AddDate(0, 1, 0)), State: dossier.Withdrawn, Assignee: d.GetAssignee(), DueTime: d.GetDueTime()}
		}, codes.PermissionDenied},
		{"second RECEIVE of a code", func(r *xasov1.OutboxRecord) {
			for _, e := range h.events {
				if e.GetReceipt().GetCode() == h.received {
					r.DossierCode, r.Event = h.received, proto.Clone(e).(*xasov1.Event)
				}
			}
		}, codes.InvalidArgument},
		{"second RECEIVE of a code, numbered after its events", func(r *xasov1.OutboxRecord) {
			for _, e := range h.events {
				if e.GetReceipt().GetCode() == h.received {
					r.DossierCode, r.Event = h.received, proto.Clone(e).(*xasov1.Event)
					r.Event.Sequence = received.GetEventCount() + 1
				}
			}
		}, codes.FailedPrecondition},
		{"APPROVE by a CLERK", func(r *xasov1.OutboxRecord) {
			r.DossierCode = h.received
			r.Event = &xasov1.Event{Sequence: received.GetEventCount() + 1, Action: dossier.Approve, Actor: "motcua.1", Role: dossier.Clerk,
				Time: timestamppb.New(testNow.AddDate(0, 1, 0)), State: dossier.ResultReady, DueTime: received.GetDueTime(), Timeliness: dossier.OnTime}
		}, codes.FailedPrecondition},
		{"ASSIGN by an OFFICER", func(r *xasov1.OutboxRecord) {
			r.DossierCode = h.received
			r.Event = &xasov1.Event{Sequence: received.GetEventCount() + 1, Action: dossier.Assign, Actor: "tuphap.1", Role: dossier.Officer,
				Time: timestamppb.New(testNow.AddDate(0, 1, 0)), State: dossier.InProcessing, Assignee: "tuphap.1", DueTime: received.GetDueTime()}
		}, codes.PermissionDenied},
		{"unknown action", func(r *xasov1.OutboxRecord) { r.Event.Action = 99 }, codes.InvalidArgument},
		{"unknown role", func(r *xasov1.OutboxRecord) { r.Event.Role = -3 }, codes.InvalidArgument},
		{"unknown state", func(r *xasov1.OutboxRecord) { r.Event.State = 1 << 20 }, codes.InvalidArgument},
		{"unknown channel", func(r *xasov1.OutboxRecord) { receipt(r).Channel = 42 }, codes.InvalidArgument},
		{"far-future time", func(r *xasov1.OutboxRecord) {
			r.Event.Time = timestamppb.New(time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC))
		}, codes.InvalidArgument},
		{"time before 2015", func(r *xasov1.OutboxRecord) {
			r.Event.Time = timestamppb.New(time.Date(2014, 6, 1, 0, 0, 0, 0, time.UTC))
		}, codes.InvalidArgument},
		{"101 components", func(r *xasov1.OutboxRecord) {
			for range 101 {
				r.Event.Components = append(r.Event.Components, &xasov1.SubmittedComponent{Code: "TK", Paper: true})
			}
		}, codes.InvalidArgument},
		{"2,001-byte reason", func(r *xasov1.OutboxRecord) { r.Event.Reason = strings.Repeat("x", 2001) }, codes.InvalidArgument},
		{"record of another commune", func(r *xasov1.OutboxRecord) { r.CommuneCode = fuzzB }, codes.PermissionDenied},
		{"no event", func(r *xasov1.OutboxRecord) { r.Event = nil }, codes.InvalidArgument},
		{"access entry of another commune", access(func(r *xasov1.OutboxRecord) { r.CommuneCode = fuzzB }), codes.PermissionDenied},
		{"access entry 2 before entry 1", access(func(r *xasov1.OutboxRecord) { r.Access.Sequence = 2 }), codes.InvalidArgument},
		{"access entry 0", access(func(r *xasov1.OutboxRecord) { r.Access.Sequence = 0 }), codes.InvalidArgument},
		{"access entry in 2100", access(func(r *xasov1.OutboxRecord) {
			r.Access.Time = timestamppb.New(time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC))
		}), codes.InvalidArgument},
		{"access entry before 2015", access(func(r *xasov1.OutboxRecord) {
			r.Access.Time = timestamppb.New(time.Date(2014, 6, 1, 0, 0, 0, 0, time.UTC))
		}), codes.InvalidArgument},
		{"access entry naming 501 dossiers", access(func(r *xasov1.OutboxRecord) {
			r.Access.DossierCodes = nil
			for i := range 501 {
				r.Access.DossierCodes = append(r.Access.DossierCodes, fmt.Sprintf("%s-260302-%04d", fuzzA, i+1))
			}
			r.Access.Count = 501
		}), codes.InvalidArgument},
		{"access entry with a 70,000-byte filter", access(func(r *xasov1.OutboxRecord) { r.Access.Filter = strings.Repeat("f", 70_000) }), codes.InvalidArgument},
		{"access entry with a 129-byte name", access(func(r *xasov1.OutboxRecord) { r.Access.Name = strings.Repeat("n", 129) }), codes.InvalidArgument},
		{"access entry of an unknown kind", access(func(r *xasov1.OutboxRecord) { r.Access.Kind = 99 }), codes.InvalidArgument},
		{"access entry naming a code twice", access(func(r *xasov1.OutboxRecord) {
			r.Access.DossierCodes, r.Access.Count = []string{bCode, bCode}, 2
		}), codes.InvalidArgument},
		{"access entry with an event too", access(func(r *xasov1.OutboxRecord) { r.Event = proto.Clone(h.next[0].GetEvent()).(*xasov1.Event) }), codes.InvalidArgument},
		{"access entry with a dossier code", access(func(r *xasov1.OutboxRecord) { r.DossierCode = h.received }), codes.InvalidArgument},
	}
}

// honestAccess is an access entry of A's node: a clerk's list of codes.
func honestAccess(seq int64, codes ...string) *xasov1.AccessEntry {
	return &xasov1.AccessEntry{Sequence: seq, Time: timestamppb.New(testNow), Name: "motcua.1", Role: dossier.Clerk, Via: "session",
		ClientAddress: "192.0.2.7", Kind: dossier.AccessList, DossierCodes: codes, Filter: "state = RECEIVED", Count: int32(len(codes))}
}

// TestKnownAttacksAreRefusedAndChangeNothing replays the known attacks on
// apply: each is refused, blocks A's chain at the record, and changes
// nothing else; the comparison that says so does see a change when an
// honest record is taken, and another commune's record touches that
// commune.
func TestKnownAttacksAreRefusedAndChangeNothing(t *testing.T) {
	h := newApplyHarness(t)
	next := int64(fuzzBase + 1)
	for _, a := range knownAttacks(h) {
		t.Run(a.name, func(t *testing.T) {
			rec := proto.Clone(h.next[0]).(*xasov1.OutboxRecord)
			a.change(rec)
			h.chain([]*xasov1.OutboxRecord{rec}, nil, nil)
			out := h.try(t, command([]*xasov1.OutboxRecord{rec}, next), a.name)
			r := out.res
			if codes.Code(r.GetCode()) != a.code || r.GetAccepted() != 0 || r.GetBlocked().GetSequence() != next || codes.Code(r.GetBlocked().GetCode()) != a.code {
				t.Errorf("%s: %s; want %v and a block at %d", a.name, shortResult(r), a.code, next)
			}
			if out.changed {
				t.Errorf("%s changed the state", a.name)
			}
			t.Logf("%s: %v, %s", a.name, codes.Code(r.GetCode()), dossier.Short(r.GetBlocked().GetReason(), 160))
		})
	}

	// The comparison is not vacuous: an honest record taken is a change it
	// reports, and a record of B is a change of B's keys.
	t.Run("an honest record is a change", func(t *testing.T) {
		before := dump(t, h.main.f)
		r := h.main.apply(t, command(h.next[:1], next))[0]
		if r.GetCode() != 0 || r.GetAccepted() != 1 {
			t.Fatalf("A's honest next record: %s", shortResult(r))
		}
		after := dump(t, h.main.f)
		if err := changedBeyondContact(before, after, fuzzA); err == nil {
			t.Error("the comparison does not see A's honest record taken")
		}
		if err := touchedCommune(before, after, fuzzA); err == nil {
			t.Error("the commune comparison does not see A's keys change")
		}
		if err := touchedCommune(before, after, fuzzB); err != nil {
			t.Errorf("A's honest record touched B: %v", err)
		}
		nextB := records(t, fuzzB, 2, fuzzBase+1)[fuzzBase]
		r = h.main.apply(t, appendEvents(fuzzB, nextB))[0]
		if r.GetCode() != 0 || r.GetAccepted() != 1 {
			t.Fatalf("B's honest next record: %s", shortResult(r))
		}
		if err := touchedCommune(after, dump(t, h.main.f), fuzzB); err == nil {
			t.Error("the commune comparison does not see B's keys change")
		}
		rollback(t, h.main.f, h.base)
	})

	// An honest access entry of A is taken (naming a dossier of B too,
	// which a transfer may have shown A), and touches no key of B.
	t.Run("an honest access entry is taken", func(t *testing.T) {
		rec := proto.Clone(h.next[0]).(*xasov1.OutboxRecord)
		rec.Event, rec.DossierCode, rec.Access = nil, "", honestAccess(1, h.aCodes[0], h.bCodes[0])
		h.chain([]*xasov1.OutboxRecord{rec}, nil, nil)
		out := h.try(t, command([]*xasov1.OutboxRecord{rec}, next), "an honest access entry")
		if out.res.GetCode() != 0 || out.res.GetAccepted() != 1 || !out.changed {
			t.Fatalf("an honest access entry: %s, changed %v", shortResult(out.res), out.changed)
		}
	})

	// try's own checks fire: told the state before an attack held a B
	// dossier other than the one it holds, it reports B's keys changed and
	// the refused record changing the state.
	t.Run("try sees a changed state", func(t *testing.T) {
		rec := proto.Clone(h.next[0]).(*xasov1.OutboxRecord)
		rec.Event.Action = 99
		h.chain([]*xasov1.OutboxRecord{rec}, nil, nil)
		saved := h.base
		defer func() {
			h.base = saved
			rollback(t, h.main.f, saved)
		}()
		h.base = maps.Clone(saved)
		h.base[prefixDossier+h.bCodes[0]] = "forged"
		r := &recorder{TB: t}
		h.try(r, command([]*xasov1.OutboxRecord{rec}, next), "a doctored starting state")
		for _, want := range []string{"changed another commune's keys", "a refused record changed the state"} {
			if !slices.ContainsFunc(r.errors, func(e string) bool { return strings.Contains(e, want) }) {
				t.Errorf("try did not report %q; it reported %q", want, r.errors)
			}
		}
	})
}

// recorder is a testing.TB that keeps the errors reported to it.
type recorder struct {
	testing.TB
	errors []string
}

func (r *recorder) Errorf(format string, args ...any) {
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}
func (r *recorder) Helper() {}

// growingHistory is one valid batch of a commune's records that makes one
// dossier big: a receipt, an assignment, then cycles of a supplement
// asked and a supplement handed in with 100 components of 9 scans each
// (about 60 KB a record). The workflow allows every one of them, and each
// record is well under the record bound.
func growingHistory(t testing.TB, commune string, cycles int) []*xasov1.OutboxRecord {
	t.Helper()
	at := testNow
	code := dossier.FormatCode(commune, at, 1)
	proc := sample.Procedures()[0]
	var paper []*xasov1.SubmittedComponent
	for _, c := range proc.GetComponents() {
		if c.GetRequired() {
			paper = append(paper, &xasov1.SubmittedComponent{Code: c.GetCode(), Paper: true})
		}
	}
	rcv, err := dossier.ReceiveEvent(dossier.ReceiveInput{Code: code, CommuneCode: commune, Procedure: proc, Applicant: &xasov1.Applicant{FullName: "Lò Văn Páo"},
		Channel: xasov1.Channel_CHANNEL_IN_PERSON, Components: paper, Actor: "motcua.1", Role: dossier.Clerk, Time: at}, sample.Calendar())
	if err != nil {
		t.Fatal(err)
	}
	// A dossier received under the older rules, which allowed supplements
	// more than once: the one way an honest node grows a dossier this big.
	rcv.Receipt.Rules, rcv.Receipt.SupplementDeadline = 0, nil
	d := &xasov1.Dossier{}
	head := dossier.GenesisHash()
	var out []*xasov1.OutboxRecord
	add := func(ev *xasov1.Event) {
		rec := &xasov1.OutboxRecord{Sequence: int64(len(out) + 1), CommuneCode: commune, DossierCode: code, Event: ev, PrevHash: head}
		rec.Hash, err = dossier.RecordHash(rec)
		if err != nil {
			t.Fatal(err)
		}
		head = rec.Hash
		dossier.Apply(d, ev)
		out = append(out, rec)
	}
	step := func(cmd dossier.Command) {
		at = at.Add(time.Minute)
		cmd.Time = at
		ev, err := dossier.Decide(d, cmd, sample.Calendar())
		if err != nil {
			t.Fatal(err)
		}
		add(ev)
	}
	add(rcv)
	step(dossier.Command{Action: dossier.Assign, Actor: "motcua.1", Role: dossier.Clerk, Assignee: "tuphap.1"})
	for range cycles {
		step(dossier.Command{Action: dossier.RequestSupplement, Actor: "tuphap.1", Role: dossier.Officer, Reason: "thiếu bản sao"})
		var comps []*xasov1.SubmittedComponent
		for i := range 100 {
			c := &xasov1.SubmittedComponent{Code: fmt.Sprintf("C%d", i)}
			for j := range 9 {
				c.AttachmentSha256 = append(c.AttachmentSha256, fmt.Sprintf("%064x", i*100+j))
			}
			comps = append(comps, c)
		}
		step(dossier.Command{Action: dossier.ReceiveSupplement, Actor: "motcua.1", Role: dossier.Clerk, Components: comps})
	}
	for _, r := range out {
		if err := dossier.ValidateRecord(r, commune, testEventsProposed); err != nil {
			t.Fatalf("record %d: %v", r.GetSequence(), err)
		}
	}
	return out
}

// TestABatchGrowingOneDossierDoesNotStopApply: one batch of valid records
// (1.3 MB; 4 KB on the wire with the events dictionary) that grows one
// dossier is taken up to central's bound on a dossier's size, then
// refused with a block, and apply goes on. Before the bound (and before
// apply could commit inside an entry) apply rewrote the whole dossier at
// each event in one Badger transaction for the entry and panicked when
// that exceeded the transaction's limit ("Txn is too big") — every member,
// at every replay of the entry.
func TestABatchGrowingOneDossierDoesNotStopApply(t *testing.T) {
	a := &applier{f: openTestFSM(t)}
	registerSample(t, a, fuzzA, fuzzB)
	recs := growingHistory(t, fuzzA, 16)
	res := a.apply(t, appendEvents(fuzzA, recs...))
	if r := res[0]; r.GetBlocked() == nil || codes.Code(r.GetCode()) != codes.ResourceExhausted || r.GetAccepted() < 2 {
		t.Fatalf("the batch: %s; want the records up to the dossier's bound taken, then a block", shortResult(r))
	}
	// Apply goes on, for every commune.
	if r := a.apply(t, appendEvents(fuzzB, records(t, fuzzB, 2, 3)...))[0]; r.GetCode() != 0 || r.GetAccepted() != 3 {
		t.Fatalf("another commune's records after it: %s", shortResult(r))
	}
}

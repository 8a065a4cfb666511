package central

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/dgraph-io/badger/v4"
	"github.com/hashicorp/raft"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	xasov1 "github.com/xaso/xaso/api/proto/xaso/v1"
	"github.com/xaso/xaso/diskusage"
	"github.com/xaso/xaso/dossier"
)

// Central's state in Badger. The layout is part of the snapshot format.
//
//	m/applied                         last Raft index applied (makes replay idempotent)
//	m/member/{id}                     a member's API address
//	c/{commune}                       commune
//	p/{procedure}                     current procedure version
//	v/{procedure}/{version:4}         every procedure version
//	k/calendar                        working calendar JSON
//	kh/{index:8}                      every calendar published, by the Raft index that put it (RESCHEDULE is checked on it)
//	a/{index:8}/{position:4}          audit record of each applied operator command
//	t/{name}                          operator token (hashed secret)
//	th/{secret sha256}                token name, for authentication
//	m/token-issued                    an operator token was made once: the bootstrap token is spent
//	en/{secret sha256}                enrollment token
//	hw/{commune}                      high-water mark of the commune's event stream
//	r/{commune}/{sequence:8}          the commune's outbox records, as the node chained them
//	d/{dossier}                       StoredDossier: the dossier as its events make it, and where each event's record is
//	du/{due unix:8}/{dossier}         open dossiers by due time; value: report group
//	g/{level}/{yyyymm}/…              report aggregates (see events.go)
//	n/{node id}                       enrolled node (certificate fingerprint, commune, revocation)
//	m/feed                            last feed sequence
//	f/{sequence:8}                    feed item for the nodes (catalogue and calendar versions)
//	cs/{commune}                      the commune's sync settings
//	am/{attachment sha256}            manifest of a file central holds, its bytes all there and checked
//	am/{attachment sha256}/{commune}  a commune's offer of a file, until its bytes are all there and checked
//	ap/{commune}/{attachment sha256}  the commune's offers waiting (empty value; bounds them)
//	ac/{chunk sha256}                 chunk of a file, content-addressed
//	la/{commune}/{access seq:8}       the commune's access log: entry → the sequence of the record (r/) carrying it
//	ld/{commune}/{dossier}/{access seq:8}  the same, by dossier named
const (
	keyApplied        = "m/applied"
	prefixMember      = "m/member/"
	prefixCommune     = "c/"
	prefixProcedure   = "p/"
	prefixProcVer     = "v/"
	keyCalendar       = "k/calendar"
	prefixCalendars   = "kh/"
	prefixAudit       = "a/"
	prefixToken       = "t/"
	prefixTokenSecret = "th/"
	keyTokenIssued    = "m/token-issued"
	prefixEnrollment  = "en/"
	prefixHighWater   = "hw/"
	prefixRecord      = "r/"
	prefixDossier     = "d/"
	prefixDue         = "du/"
	prefixAggregate   = "g/"
	prefixNode        = "n/"
	keyFeedHead       = "m/feed"
	prefixFeed        = "f/"
	prefixSettings    = "cs/"
	prefixManifest    = "am/"
	prefixChunk       = "ac/"
	prefixAccess      = "la/"
	prefixAccessCode  = "ld/"
	batchFormat       = 1
	snapshotMagic     = "XASO-CENTRAL-SNAPSHOT"
	snapshotVersion   = 2 // 2: dossiers keep their event pointers (no de/ keys)
	maxSnapshotEntry  = 64 << 20
	// commitBytes and commitOps are when apply commits and starts a new
	// transaction, well under Badger's limits of a transaction's size and
	// count: at an entry boundary, or inside an entry (see midCommit).
	commitBytes = 4 << 20
	commitOps   = 20_000
	// keyPartial marks the entry a transaction was committed in the
	// middle of: {index:8}{position:4}, the first command not yet applied.
	keyPartial = "m/partial"
)

// FSM is central's replicated state machine: it applies batches of commands
// from the Raft log to a Badger database. Apply is deterministic: no clock,
// no randomness, no map iteration; times come stamped in the commands.
type FSM struct {
	db      *badger.DB
	log     *slog.Logger
	applied atomic.Uint64
	// restores counts snapshots restored since the state was opened.
	restores atomic.Uint64
	// broken is set while a restore has cleared the state and not finished.
	broken atomic.Bool
	// observe, when set, is told the size of each applied batch and how long it took.
	observe atomic.Pointer[func(entries, commands int, seconds float64)]
	// snapshotted, when set, is told each persisted snapshot's size and duration.
	snapshotted atomic.Pointer[func(bytes int64, seconds float64)]

	// hot is apply's in-memory help (see hotState), used by apply, Restore and Close.
	hot *hotState
	// midCommitted, when set (by tests), is called after each commit
	// inside an entry (see midCommit).
	midCommitted func()

	mu sync.Mutex
	// advanced is closed and replaced whenever the applied index moves.
	advanced chan struct{}
	// nodesChanged, when not nil, is closed at the next enrollment or
	// revocation applied, or snapshot restored (see NodesChanged).
	nodesChanged chan struct{}
}

// NodesChanged returns a channel closed when an enrollment or a revocation
// of a node is next applied, or a snapshot restored: the replication
// service then checks its open streams' nodes again.
func (f *FSM) NodesChanged() <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.nodesChanged == nil {
		f.nodesChanged = make(chan struct{})
	}
	return f.nodesChanged
}

// signalNodesChanged wakes those waiting on NodesChanged.
func (f *FSM) signalNodesChanged() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.nodesChanged != nil {
		close(f.nodesChanged)
		f.nodesChanged = nil
	}
}

// setApplied records the applied index and wakes those waiting for it.
func (f *FSM) setApplied(index uint64) {
	f.applied.Store(index)
	f.mu.Lock()
	close(f.advanced)
	f.advanced = make(chan struct{})
	f.mu.Unlock()
}

// WaitApplied waits until the state holds index, or ctx ends.
func (f *FSM) WaitApplied(ctx context.Context, index uint64) error {
	for {
		f.mu.Lock()
		ch := f.advanced
		f.mu.Unlock()
		if f.applied.Load() >= index {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("wait for index %d (applied %d): %w", index, f.applied.Load(), ctx.Err())
		}
	}
}

// OpenFSM opens the state in dir without encryption (tests); a member
// opens it with OpenState.
func OpenFSM(dir string, log *slog.Logger) (*FSM, error) {
	return OpenState(StateOptions{Dir: dir, Logger: log})
}

// OpenState opens the state as o says (encrypted with o.Key when set).
// These are the state's only Badger options: a snapshot's restore clears
// and refills the same database.
func OpenState(o StateOptions) (*FSM, error) {
	dir, log := o.Dir, o.Logger
	opts := badger.DefaultOptions(dir).
		WithLogger(nil).
		WithSyncWrites(false). // the Raft log is the durable record; the FSM is rebuilt from it
		WithDetectConflicts(false).
		WithNumVersionsToKeep(1).
		WithMemTableSize(64 << 20).
		WithBlockCacheSize(64 << 20).
		WithIndexCacheSize(32 << 20) // encryption needs an index cache
	if len(o.Key) > 0 {
		opts = opts.WithEncryptionKey(o.Key).WithEncryptionKeyRotationDuration(30 * 24 * time.Hour)
	}
	db, err := badger.Open(opts)
	if err != nil {
		return nil, fmt.Errorf("open central state %s: %w", dir, err)
	}
	f := &FSM{db: db, log: log, hot: newHotState(), advanced: make(chan struct{})}
	err = db.View(func(txn *badger.Txn) error {
		v, err := getValue(txn, []byte(keyApplied))
		if err == nil && len(v) == 8 {
			f.applied.Store(binary.BigEndian.Uint64(v))
		}
		if errors.Is(err, errNotFound) {
			return nil
		}
		return err
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("read applied index: %w", err)
	}
	if err := f.ensureYearLevel(); err != nil {
		db.Close()
		return nil, err
	}
	f.hot.load(db, log)
	return f, nil
}

// ensureYearLevel builds the by-year procedure aggregates from the monthly
// ones in a state written before that level existed (an older member's
// data or snapshot). Every member derives the same rows from the same
// state, so they stay equal.
func (f *FSM) ensureYearLevel() error {
	sums := map[string]*xasov1.Aggregate{}
	err := f.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte(levelProcedureYear)})
		have := false
		for it.Rewind(); it.Valid(); it.Next() {
			have = true
			break
		}
		it.Close()
		if have {
			return nil
		}
		it = txn.NewIterator(badger.IteratorOptions{Prefix: []byte(levelProcedure)})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			month, proc, ok := strings.Cut(string(it.Item().Key()[len(levelProcedure):]), "/")
			if !ok || len(month) != 6 {
				continue
			}
			a := &xasov1.Aggregate{}
			if err := it.Item().Value(func(v []byte) error { return proto.Unmarshal(v, a) }); err != nil {
				return err
			}
			k := levelProcedureYear + month[:4] + "/" + proc
			if sums[k] == nil {
				sums[k] = &xasov1.Aggregate{}
			}
			addAggregate(sums[k], a, 1)
		}
		return nil
	})
	if err != nil || len(sums) == 0 {
		return err
	}
	wb := f.db.NewWriteBatch()
	defer wb.Cancel()
	for k, a := range sums {
		v, err := proto.Marshal(a)
		if err != nil {
			return err
		}
		if err := wb.Set([]byte(k), v); err != nil {
			return err
		}
	}
	if err := wb.Flush(); err != nil {
		return fmt.Errorf("build the by-year aggregates: %w", err)
	}
	f.log.Info("built the by-year procedure aggregates", "rows", len(sums))
	return nil
}

// Close closes the state.
func (f *FSM) Close() error {
	f.hot.stop()
	return f.db.Close()
}

// AppliedIndex is the last Raft index applied to the state.
func (f *FSM) AppliedIndex() uint64 { return f.applied.Load() }

// Size returns the bytes the store's files take on disk: the blocks
// allocated to its LSM tables and value log, as du counts them.
// badger.DB.Size would count the value log's preallocated length instead
// (2 GiB for a store holding a few kilobytes). An in-memory store (tests)
// reports Badger's own estimate.
func (f *FSM) Size() (int64, error) {
	o := f.db.Opts()
	if o.InMemory {
		lsm, vlog := f.db.Size()
		return lsm + vlog, nil
	}
	return diskusage.Of(o.Dir, o.ValueDir)
}

var errNotFound = errors.New("not found")

func getValue(txn *badger.Txn, key []byte) ([]byte, error) {
	item, err := txn.Get(key)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, errNotFound
	}
	if err != nil {
		return nil, err
	}
	return item.ValueCopy(nil)
}

func getProto(txn *badger.Txn, key []byte, m proto.Message) error {
	v, err := getValue(txn, key)
	if err != nil {
		return err
	}
	return proto.Unmarshal(v, m)
}

func be64(n uint64) []byte { return binary.BigEndian.AppendUint64(nil, n) }

func marshal(m proto.Message) []byte {
	v, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		panic(fmt.Sprintf("central state: encode %T: %v", m, err)) // only an invalid UTF-8 string can fail, and inputs are checked
	}
	return v
}

// stateTxn is the write transaction ApplyBatch works in. A failed write
// means the state can no longer follow the log: it panics, and Raft stops.
type stateTxn struct {
	txn   *badger.Txn
	bytes int
	hot   *hotState
	// aggs are the report aggregates' changes made in this transaction,
	// added to the stored ones when it commits: a batch of events of the
	// same commune and month touches each aggregate once, not once an event.
	aggs map[string]*xasov1.Aggregate
	// nodesChanged says that a node was enrolled or revoked in this
	// transaction (see FSM.NodesChanged).
	nodesChanged bool
	// ops counts the transaction's writes.
	ops int
	// partial says that the state holds a keyPartial mark, to delete once
	// the entry it names is whole (members cut entries at different
	// places: their states must not keep the marks).
	partial bool
	// checkpoint, while a command is applied, commits what the state holds
	// so far (midCommit) and goes on in a new transaction: a command that
	// writes more than a transaction holds is applied in several.
	checkpoint func()
}

// full says that the transaction should be committed before more is written.
func (s *stateTxn) full() bool { return s.bytes > commitBytes || s.ops > commitOps }

func (s *stateTxn) set(k, v []byte) {
	if err := s.txn.Set(k, v); err != nil {
		panic(fmt.Sprintf("central state: write %q: %v", k, err))
	}
	s.bytes += len(k) + len(v) + 32
	s.ops++
}

func (s *stateTxn) setProto(k []byte, m proto.Message) { s.set(k, marshal(m)) }

func (s *stateTxn) del(k []byte) {
	if err := s.txn.Delete(k); err != nil {
		panic(fmt.Sprintf("central state: delete %q: %v", k, err))
	}
	s.bytes += len(k) + 32
	s.ops++
}

// getProto reads k into m; false when k is absent.
func (s *stateTxn) getProto(k []byte, m proto.Message) bool {
	err := getProto(s.txn, k, m)
	if errors.Is(err, errNotFound) {
		return false
	}
	if err != nil {
		panic(fmt.Sprintf("central state: read %q: %v", k, err))
	}
	return true
}

// has says whether k is in the state.
func (s *stateTxn) has(k []byte) bool {
	_, err := s.txn.Get(k)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return false
	}
	if err != nil {
		panic(fmt.Sprintf("central state: read %q: %v", k, err))
	}
	return true
}

func (f *FSM) begin() *stateTxn {
	return &stateTxn{txn: f.db.NewTransaction(true), hot: f.hot, aggs: map[string]*xasov1.Aggregate{}}
}

func (f *FSM) commit(st *stateTxn, applied uint64) {
	st.flushAggregates()
	if st.partial {
		st.del([]byte(keyPartial))
		st.partial = false
	}
	st.set([]byte(keyApplied), be64(applied))
	if err := st.txn.Commit(); err != nil {
		panic(fmt.Sprintf("central state: commit at index %d: %v", applied, err))
	}
	f.setApplied(applied)
	if st.nodesChanged {
		f.signalNodesChanged()
	}
}

// midCommit commits st in the middle of the entry at index, before its
// command at pos (or inside it: the commands that may be cut, a node's
// records, are idempotent), and goes on in a new transaction. The state
// then holds the entry's commands before pos and says so (keyPartial), so
// that a member restarted before the entry's end applies only the rest of
// it; the applied index stays at the entry before, so that whoever waits
// for the entry sees it whole. Local reads may see part of the entry
// meanwhile, as they may see a state a moment old.
func (f *FSM) midCommit(st *stateTxn, index uint64, pos int) {
	st.flushAggregates()
	st.set([]byte(keyApplied), be64(index-1))
	st.set([]byte(keyPartial), binary.BigEndian.AppendUint32(be64(index), uint32(pos)))
	if err := st.txn.Commit(); err != nil {
		panic(fmt.Sprintf("central state: commit in entry %d at command %d: %v", index, pos, err))
	}
	if index-1 > f.applied.Load() {
		f.setApplied(index - 1)
	}
	st.txn, st.bytes, st.ops, st.partial = f.db.NewTransaction(true), 0, 0, true
	if f.midCommitted != nil {
		f.midCommitted()
	}
}

// partialFrom is the first command of the entry at index not yet in the
// state: 0 unless a restart cut the entry's application (see midCommit).
func (st *stateTxn) partialFrom(index uint64) int {
	v, err := getValue(st.txn, []byte(keyPartial))
	switch {
	case errors.Is(err, errNotFound):
		return 0
	case err != nil:
		panic(fmt.Sprintf("central state: read %s: %v", keyPartial, err))
	}
	st.partial = true // deleted when this transaction commits whole entries
	if len(v) == 12 && binary.BigEndian.Uint64(v) == index {
		return int(binary.BigEndian.Uint32(v[8:]))
	}
	return 0
}

// Apply applies one log entry (raft.FSM).
func (f *FSM) Apply(l *raft.Log) any { return f.ApplyBatch([]*raft.Log{l})[0] }

// ApplyBatch applies committed log entries (raft.BatchingFSM), in as few
// Badger transactions as fit; each transaction also records the last index
// it holds, so that entries replayed after a restart are skipped. Each
// command entry answers a []*xasov1.CommandResult.
func (f *FSM) ApplyBatch(logs []*raft.Log) []any {
	if f.broken.Load() {
		// A failed restore left the state partial; applying on it would
		// diverge. Stop: the member restarts and restores again.
		panic("central state: a snapshot restore failed part-way; restart the member")
	}
	start := time.Now()
	out := make([]any, len(logs))
	st := f.begin()
	defer func() { st.txn.Discard() }()
	applied := f.applied.Load()
	commands := 0
	for i, l := range logs {
		if l.Type != raft.LogCommand || l.Index <= applied {
			continue // not a command, or replayed after a restart: already in the state
		}
		res := f.applyEntry(st, l)
		out[i], applied, commands = res, l.Index, commands+len(res)
		if st.full() {
			f.commit(st, applied)
			st = f.begin()
		}
	}
	f.commit(st, applied)
	if obs := f.observe.Load(); obs != nil {
		(*obs)(len(logs), commands, time.Since(start).Seconds())
	}
	return out
}

// applyEntry applies the commands of one entry, in order, each refused or
// applied on its own.
func (f *FSM) applyEntry(st *stateTxn, l *raft.Log) []*xasov1.CommandResult {
	var batch xasov1.CentralCommandBatch
	if err := proto.Unmarshal(l.Data, &batch); err != nil || batch.GetFormat() != batchFormat {
		f.log.Error("undecodable log entry", "index", l.Index, "err", err, "format", batch.GetFormat())
		return []*xasov1.CommandResult{{Code: int32(codes.Internal), Message: "undecodable log entry", Index: l.Index}}
	}
	results := make([]*xasov1.CommandResult, len(batch.GetCommands()))
	skip := st.partialFrom(l.Index)
	defer func() { st.checkpoint = nil }()
	for pos, cmd := range batch.GetCommands() {
		if pos < skip {
			// Applied before a restart cut the entry (see midCommit).
			results[pos] = &xasov1.CommandResult{Index: l.Index}
			continue
		}
		if st.full() {
			f.midCommit(st, l.Index, pos)
		}
		st.checkpoint = func() { f.midCommit(st, l.Index, pos) }
		var res *xasov1.CommandResult
		switch c := cmd.GetCommand().(type) {
		case *xasov1.CentralCommand_AppendEvents:
			// The records are their own audit trail.
			res = applyEvents(st, l.Index, cmd, c.AppendEvents)
		case *xasov1.CentralCommand_ReadFence:
			res = &xasov1.CommandResult{}
		case *xasov1.CentralCommand_PutAttachmentManifest:
			res = applyManifest(st, c.PutAttachmentManifest)
		case *xasov1.CentralCommand_PutChunk:
			res = applyChunk(st, c.PutChunk)
		default:
			w := &writes{index: l.Index}
			res = apply(st, cmd, w)
			if res.GetCode() == 0 {
				w.flush(st)
				switch cmd.GetCommand().(type) {
				case *xasov1.CentralCommand_UseEnrollment, *xasov1.CentralCommand_RevokeNode:
					st.nodesChanged = true
				}
			}
			key := append([]byte(prefixAudit), be64(l.Index)...)
			key = binary.BigEndian.AppendUint32(key, uint32(pos))
			res.Index = l.Index // the audit record keeps it too
			st.setProto(key, &xasov1.AuditRecord{Index: l.Index, Command: cmd, Result: res})
		}
		res.Index = l.Index
		results[pos] = res
	}
	return results
}

// writes collects what one command writes, so that a refused one writes nothing.
type writes struct {
	index uint64 // of the entry applied
	keys  [][]byte
	vals  [][]byte // nil: delete
}

// feed appends an item to the nodes' feed when the command's writes are
// flushed.
func (w *writes) feed(st *stateTxn, item *xasov1.FeedItem) {
	item.Sequence, item.RaftIndex = feedHead(st)+1, w.index
	w.setRaw([]byte(keyFeedHead), be64(item.Sequence))
	w.set(feedKey(item.Sequence), item)
}

// appendFeed appends an item to the nodes' feed at once.
func appendFeed(st *stateTxn, index uint64, item *xasov1.FeedItem) {
	item.Sequence, item.RaftIndex = feedHead(st)+1, index
	st.set([]byte(keyFeedHead), be64(item.Sequence))
	st.setProto(feedKey(item.Sequence), item)
}

// feedHead is the last feed sequence in st.
func feedHead(st *stateTxn) uint64 {
	head, err := readFeedHead(st.txn)
	if err != nil {
		panic(fmt.Sprintf("central state: read feed head: %v", err))
	}
	return head
}

// readFeedHead reads the last feed sequence (0 for an empty feed).
func readFeedHead(txn *badger.Txn) (uint64, error) {
	v, err := getValue(txn, []byte(keyFeedHead))
	switch {
	case err == nil && len(v) == 8:
		return binary.BigEndian.Uint64(v), nil
	case err == nil || errors.Is(err, errNotFound):
		return 0, nil
	default:
		return 0, err
	}
}

// calendarKey is where the calendar put at Raft index index is kept.
func calendarKey(index uint64) []byte { return append([]byte(prefixCalendars), be64(index)...) }

func feedKey(seq uint64) []byte { return append([]byte(prefixFeed), be64(seq)...) }

func (w *writes) set(k []byte, m proto.Message) {
	w.keys, w.vals = append(w.keys, k), append(w.vals, marshal(m))
}

func (w *writes) setRaw(k, v []byte) { w.keys, w.vals = append(w.keys, k), append(w.vals, v) }

func (w *writes) del(k []byte) { w.keys, w.vals = append(w.keys, k), append(w.vals, nil) }

func (w *writes) flush(st *stateTxn) {
	for i, k := range w.keys {
		if w.vals[i] == nil {
			st.del(k)
		} else {
			st.set(k, w.vals[i])
		}
	}
}

func refused(c codes.Code, format string, args ...any) *xasov1.CommandResult {
	return &xasov1.CommandResult{Code: int32(c), Message: fmt.Sprintf(format, args...)}
}

// invalid refuses a command for bad input, naming each field under prefix.
func invalid(prefix string, v dossier.Violations) *xasov1.CommandResult {
	for i := range v {
		if prefix != "" {
			v[i].Field = prefix + "." + v[i].Field
		}
	}
	r := refused(codes.InvalidArgument, "%s", v.Error())
	for _, x := range v {
		r.Violations = append(r.Violations, &xasov1.FieldViolation{Field: x.Field, Description: x.Description})
	}
	return r
}

func violation(field, description string) dossier.Violations {
	return dossier.Violations{{Field: field, Description: description}}
}

// apply checks one operator command against the state and says what it writes.
func apply(st *stateTxn, cmd *xasov1.CentralCommand, w *writes) *xasov1.CommandResult {
	switch c := cmd.GetCommand().(type) {
	case *xasov1.CentralCommand_PutCommune:
		cm := proto.Clone(c.PutCommune.GetCommune()).(*xasov1.Commune)
		var v dossier.Violations
		if !dossier.ValidCommuneCode(cm.GetCode()) {
			v.Add("code", "a 5-digit administrative unit code")
		}
		if strings.TrimSpace(cm.GetName()) == "" || len(cm.GetName()) > 200 || !utf8.ValidString(cm.GetName()) {
			v.Add("name", "the name is required, at most 200 bytes of UTF-8")
		}
		if cm.GetAgencyId() != "" {
			if err := dossier.CheckAgencyID(cm.GetAgencyId()); err != nil {
				v.Add("agency_id", err.Error())
			}
		}
		if len(v) > 0 {
			return invalid("commune", v)
		}
		if r := putCommuneAgency(st, cm); r != nil {
			return r
		}
		if r := putCommuneUnits(st, cm); r != nil {
			return r
		}
		cm.UpdateTime, cm.UpdatedBy = cmd.GetTime(), cmd.GetActor()
		w.set([]byte(prefixCommune+cm.GetCode()), cm)
		w.feed(st, &xasov1.FeedItem{Broadcast: true, Item: &xasov1.FeedItem_Commune{Commune: cm}})
		return &xasov1.CommandResult{}
	case *xasov1.CentralCommand_PutProcedure:
		return applyPutProcedure(st, c.PutProcedure, w)
	case *xasov1.CentralCommand_PutCalendar:
		if _, err := dossier.ParseCalendar([]byte(c.PutCalendar.GetCalendarJson())); err != nil {
			return invalid("", violation("calendar_json", err.Error()))
		}
		w.setRaw([]byte(keyCalendar), []byte(c.PutCalendar.GetCalendarJson()))
		w.setRaw(calendarKey(w.index), []byte(c.PutCalendar.GetCalendarJson()))
		w.feed(st, &xasov1.FeedItem{Broadcast: true, Item: &xasov1.FeedItem_CalendarJson{CalendarJson: c.PutCalendar.GetCalendarJson()}})
		return &xasov1.CommandResult{}
	case *xasov1.CentralCommand_PutOperatorToken:
		t := proto.Clone(c.PutOperatorToken.GetToken()).(*xasov1.OperatorToken)
		var v dossier.Violations
		if !validName(t.GetName()) {
			v.Add("name", "1 to 64 letters, digits, '.', '-' or '_'")
		}
		// Roles are checked against the known ones where the command is
		// proposed (CreateOperatorToken): a member of an older version
		// applies what this one applies.
		if t.GetRole() == xasov1.OperatorRole_OPERATOR_ROLE_UNSPECIFIED {
			v.Add("role", "VIEWER, RECORDS or OPERATOR")
		}
		if !dossier.ValidSHA256(t.GetSecretSha256()) {
			v.Add("secret_sha256", "the SHA-256 of the secret, in hex")
		}
		if e := t.GetExpireTime(); e != nil && (!e.AsTime().After(cmd.GetTime().AsTime()) || e.AsTime().After(cmd.GetTime().AsTime().Add(MaxOperatorTokenTTL))) {
			v.Add("expire_time", fmt.Sprintf("after the time of issue, at most %v after it", MaxOperatorTokenTTL))
		}
		if len(v) == 0 && st.getProto([]byte(prefixToken+t.GetName()), &xasov1.OperatorToken{}) {
			v.Add("name", fmt.Sprintf("a token named %q exists already", t.GetName()))
		}
		if len(v) == 0 && st.has([]byte(prefixTokenSecret+t.GetSecretSha256())) {
			v.Add("secret_sha256", "another token has this secret; make a new one")
		}
		if len(v) > 0 {
			return invalid("token", v)
		}
		if c.PutOperatorToken.GetFirst() {
			issued, err := tokenIssued(st.txn)
			if err != nil {
				panic(fmt.Sprintf("central state: read %s: %v", keyTokenIssued, err))
			}
			switch {
			case issued:
				return refused(codes.Unauthenticated, "the bootstrap token is spent: an operator token was made already; use one")
			case t.GetRole() != xasov1.OperatorRole_OPERATOR_ROLE_OPERATOR:
				return invalid("token", violation("role", "the first token is an OPERATOR's, which can make the others"))
			}
		}
		t.CreateTime, t.CreatedBy, t.Expired = cmd.GetTime(), cmd.GetActor(), false
		w.set([]byte(prefixToken+t.GetName()), t)
		w.setRaw([]byte(prefixTokenSecret+t.GetSecretSha256()), []byte(t.GetName()))
		w.setRaw([]byte(keyTokenIssued), []byte{1})
		return &xasov1.CommandResult{}
	case *xasov1.CentralCommand_DeleteOperatorToken:
		t := &xasov1.OperatorToken{}
		if !st.getProto([]byte(prefixToken+c.DeleteOperatorToken.GetName()), t) {
			return refused(codes.NotFound, "no token named %q", c.DeleteOperatorToken.GetName())
		}
		w.del([]byte(prefixToken + t.GetName()))
		w.del([]byte(prefixTokenSecret + t.GetSecretSha256()))
		return &xasov1.CommandResult{}
	case *xasov1.CentralCommand_IssueEnrollment:
		t := proto.Clone(c.IssueEnrollment.GetToken()).(*xasov1.EnrollmentToken)
		var v dossier.Violations
		if !st.getProto([]byte(prefixCommune+t.GetCommuneCode()), &xasov1.Commune{}) {
			v.Add("commune_code", fmt.Sprintf("commune %q is not registered", t.GetCommuneCode()))
		}
		if !dossier.ValidSHA256(t.GetSecretSha256()) {
			v.Add("secret_sha256", "the SHA-256 of the secret, in hex")
		}
		if !t.GetExpireTime().AsTime().After(cmd.GetTime().AsTime()) {
			v.Add("expire_time", "after the time of issue")
		}
		if len(v) > 0 {
			return invalid("token", v)
		}
		t.CreateTime, t.CreatedBy, t.UsedByNode, t.UseTime = cmd.GetTime(), cmd.GetActor(), "", nil
		w.set([]byte(prefixEnrollment+t.GetSecretSha256()), t)
		return &xasov1.CommandResult{}
	case *xasov1.CentralCommand_UseEnrollment:
		u := c.UseEnrollment
		t := &xasov1.EnrollmentToken{}
		switch {
		case !st.getProto([]byte(prefixEnrollment+u.GetSecretSha256()), t):
			return refused(codes.PermissionDenied, "unknown enrollment token")
		case t.GetUsedByNode() != "" && !sameRequester(st, t, u):
			return refused(codes.PermissionDenied, "the enrollment token was used already")
		case !cmd.GetTime().AsTime().Before(t.GetExpireTime().AsTime()):
			return refused(codes.PermissionDenied, "the enrollment token expired")
		case !validName(u.GetNodeId()):
			return invalid("", violation("node_id", "1 to 64 letters, digits, '.', '-' or '_'"))
		case !dossier.ValidSHA256(u.GetCertificateSha256()):
			return invalid("", violation("certificate_sha256", "the SHA-256 of the node's certificate, in hex"))
		}
		prev := &xasov1.EnrolledNode{}
		if st.getProto([]byte(prefixNode+u.GetNodeId()), prev) && prev.GetCommuneCode() != t.GetCommuneCode() {
			return invalid("", violation("node_id", fmt.Sprintf("node %s is enrolled for commune %s; choose another name", u.GetNodeId(), prev.GetCommuneCode())))
		}
		t.UsedByNode, t.UseTime = u.GetNodeId(), cmd.GetTime()
		w.set([]byte(prefixEnrollment+t.GetSecretSha256()), t)
		// A node enrolled again (its machine replaced) is known by its new
		// certificate only: the old one is refused from now on.
		w.set([]byte(prefixNode+u.GetNodeId()), &xasov1.EnrolledNode{
			NodeId: u.GetNodeId(), CommuneCode: t.GetCommuneCode(), CertificateSha256: u.GetCertificateSha256(),
			EnrollTime: cmd.GetTime(), CertificateExpireTime: u.GetCertificateExpireTime(), PublicKeySha256: u.GetPublicKeySha256(),
		})
		return &xasov1.CommandResult{}
	case *xasov1.CentralCommand_RevokeNode:
		n := &xasov1.EnrolledNode{}
		if !st.getProto([]byte(prefixNode+c.RevokeNode.GetNodeId()), n) {
			return refused(codes.NotFound, "no node named %q is enrolled", c.RevokeNode.GetNodeId())
		}
		if n.GetRevokeTime() == nil {
			n.RevokeTime, n.RevokedBy = cmd.GetTime(), cmd.GetActor()
			w.set([]byte(prefixNode+n.GetNodeId()), n)
		}
		return &xasov1.CommandResult{}
	case *xasov1.CentralCommand_PutCommuneSettings:
		cs := c.PutCommuneSettings
		set := proto.Clone(cs.GetSettings()).(*xasov1.CommuneSettings)
		var v dossier.Violations
		if !st.getProto([]byte(prefixCommune+cs.GetCommuneCode()), &xasov1.Commune{}) {
			v.Add("commune_code", fmt.Sprintf("commune %q is not registered", cs.GetCommuneCode()))
		}
		if b := set.GetSyncBandwidthKbit(); b < 0 || b > 10_000_000 {
			v.Add("settings.sync_bandwidth_kbit", "0 (no cap) to 10000000")
		}
		if _, err := dossier.ParseDailyWindow(set.GetSyncUploadWindow()); err != nil {
			v.Add("settings.sync_upload_window", err.Error())
		}
		if len(v) > 0 {
			return invalid("", v)
		}
		set.UpdateTime, set.UpdatedBy = cmd.GetTime(), cmd.GetActor()
		w.set([]byte(prefixSettings+cs.GetCommuneCode()), set)
		w.feed(st, &xasov1.FeedItem{CommuneCode: cs.GetCommuneCode(), Item: &xasov1.FeedItem_Settings{Settings: set}})
		return &xasov1.CommandResult{}
	case *xasov1.CentralCommand_PutOnlineFiling:
		return applyOnlineFiling(st, c.PutOnlineFiling, w)
	case *xasov1.CentralCommand_UnblockChain:
		u := c.UnblockChain
		hw := &xasov1.NodeStream{}
		switch {
		case !dossier.ValidCommuneCode(u.GetCommuneCode()):
			return invalid("", violation("commune_code", "a 5-digit administrative unit code"))
		case !st.getProto([]byte(prefixHighWater+u.GetCommuneCode()), hw) || hw.GetBlocked() == nil:
			return refused(codes.FailedPrecondition, "the chain of commune %s is not blocked", u.GetCommuneCode())
		case hw.GetBlocked().GetSequence() != u.GetSequence():
			return refused(codes.FailedPrecondition, "the chain of commune %s is blocked at sequence %d, not %d", u.GetCommuneCode(), hw.GetBlocked().GetSequence(), u.GetSequence())
		}
		hw.Blocked = nil
		w.set([]byte(prefixHighWater+u.GetCommuneCode()), hw)
		return &xasov1.CommandResult{}
	case *xasov1.CentralCommand_DeclareSuccession:
		return applyDeclareSuccession(st, cmd, c.DeclareSuccession, w)
	case *xasov1.CentralCommand_PutMember:
		m := c.PutMember.GetMember()
		if m.GetId() == "" || m.GetApiAddress() == "" {
			return invalid("member", dossier.Violations{{Field: "id", Description: "required"}, {Field: "api_address", Description: "required"}})
		}
		w.set([]byte(prefixMember+m.GetId()), m)
		return &xasov1.CommandResult{}
	default:
		return refused(codes.InvalidArgument, "unknown command")
	}
}

// sameRequester says whether a spent enrollment token is being spent again
// by the node that spent it, with the same key and not revoked since: its
// first answer was lost on the way.
func sameRequester(st *stateTxn, t *xasov1.EnrollmentToken, u *xasov1.UseEnrollmentCommand) bool {
	n := &xasov1.EnrolledNode{}
	return t.GetUsedByNode() == u.GetNodeId() && st.getProto([]byte(prefixNode+u.GetNodeId()), n) &&
		n.GetRevokeTime() == nil && u.GetPublicKeySha256() != "" && n.GetPublicKeySha256() == u.GetPublicKeySha256()
}

func applyPutProcedure(st *stateTxn, c *xasov1.PutProcedureCommand, w *writes) *xasov1.CommandResult {
	p := proto.Clone(c.GetProcedure()).(*xasov1.Procedure)
	if p == nil {
		return invalid("", violation("procedure", "required"))
	}
	cur := &xasov1.Procedure{}
	exists := p.GetCode() != "" && st.getProto([]byte(prefixProcedure+p.GetCode()), cur)
	p.Version = cur.GetVersion() + 1
	if err := dossier.ValidateProcedure(p); err != nil {
		return invalid("procedure", err.(dossier.Violations))
	}
	switch ev := c.GetExpectedVersion(); {
	case ev == -1 && exists:
		return invalid("", violation("procedure.code", fmt.Sprintf("procedure %s exists already (version %d)", p.GetCode(), cur.GetVersion())))
	case ev > 0 && ev != cur.GetVersion():
		return refused(codes.Aborted, "procedure %s is at version %d, not %d", p.GetCode(), cur.GetVersion(), ev)
	}
	w.set([]byte(prefixProcedure+p.GetCode()), p)
	w.set(binary.BigEndian.AppendUint32([]byte(prefixProcVer+p.GetCode()+"/"), uint32(p.GetVersion())), p)
	w.feed(st, &xasov1.FeedItem{Broadcast: true, Item: &xasov1.FeedItem_Procedure{Procedure: p}})
	return &xasov1.CommandResult{Version: p.GetVersion()}
}

// validName is a token, node or member name: 1 to 64 of [A-Za-z0-9._-].
func validName(s string) bool { return dossier.ValidName(s, 64) }

// Snapshot captures the state at the last applied index (raft.FSM). It
// holds a read transaction, so Persist streams a consistent view while
// later entries keep being applied.
func (f *FSM) Snapshot() (raft.FSMSnapshot, error) {
	return &snapshot{txn: f.db.NewTransaction(false), index: f.applied.Load(), done: f.snapshotted.Load()}, nil
}

type snapshot struct {
	txn   *badger.Txn
	index uint64
	done  *func(bytes int64, seconds float64)
}

// Persist writes the snapshot: a header (magic, format version, applied
// index), then every key and value with their lengths, then the count.
func (s *snapshot) Persist(sink raft.SnapshotSink) error {
	start := time.Now()
	cw := &countingWriter{w: sink}
	err := writeSnapshot(cw, s.txn, s.index)
	if err != nil {
		sink.Cancel()
		return fmt.Errorf("persist snapshot at %d: %w", s.index, err)
	}
	if err := sink.Close(); err != nil {
		return fmt.Errorf("persist snapshot at %d: %w", s.index, err)
	}
	if s.done != nil {
		(*s.done)(cw.n, time.Since(start).Seconds())
	}
	return nil
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// Release ends the snapshot's read transaction.
func (s *snapshot) Release() { s.txn.Discard() }

func writeSnapshot(w io.Writer, txn *badger.Txn, index uint64) error {
	bw := bufio.NewWriterSize(w, 1<<20)
	hdr := append([]byte(snapshotMagic), byte(snapshotVersion))
	hdr = binary.BigEndian.AppendUint64(hdr, index)
	if _, err := bw.Write(hdr); err != nil {
		return err
	}
	it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: true, PrefetchSize: 256})
	defer it.Close()
	var n uint64
	var buf []byte
	for it.Rewind(); it.Valid(); it.Next() {
		item := it.Item()
		v, err := item.ValueCopy(buf[:0])
		if err != nil {
			return err
		}
		buf = v
		k := item.Key()
		rec := binary.AppendUvarint(nil, uint64(len(k)))
		rec = binary.AppendUvarint(rec, uint64(len(v)))
		if _, err := bw.Write(rec); err != nil {
			return err
		}
		if _, err := bw.Write(k); err != nil {
			return err
		}
		if _, err := bw.Write(v); err != nil {
			return err
		}
		n++
	}
	// End marker (a zero-length key) and the count.
	if _, err := bw.Write(binary.AppendUvarint(binary.AppendUvarint(nil, 0), n)); err != nil {
		return err
	}
	return bw.Flush()
}

// Restore replaces the state with a snapshot (raft.FSM).
func (f *FSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	br := bufio.NewReaderSize(rc, 1<<20)
	hdr := make([]byte, len(snapshotMagic)+1+8)
	if _, err := io.ReadFull(br, hdr); err != nil {
		return fmt.Errorf("restore: read header: %w", err)
	}
	if string(hdr[:len(snapshotMagic)]) != snapshotMagic || hdr[len(snapshotMagic)] != snapshotVersion {
		return fmt.Errorf("restore: not a version %d central snapshot", snapshotVersion)
	}
	index := binary.BigEndian.Uint64(hdr[len(snapshotMagic)+1:])
	f.broken.Store(true) // until the whole snapshot is in
	f.hot.reset()
	if err := f.db.DropAll(); err != nil {
		return fmt.Errorf("restore: clear state: %w", err)
	}
	wb := f.db.NewWriteBatch()
	defer wb.Cancel()
	var n uint64
	for {
		kl, err := binary.ReadUvarint(br)
		if err != nil {
			return fmt.Errorf("restore: entry %d: %w", n, err)
		}
		if kl == 0 {
			count, err := binary.ReadUvarint(br)
			if err != nil || count != n {
				return fmt.Errorf("restore: snapshot holds %d entries, its trailer says %d (%v)", n, count, err)
			}
			break
		}
		vl, err := binary.ReadUvarint(br)
		if err != nil || kl > maxSnapshotEntry || vl > maxSnapshotEntry {
			return fmt.Errorf("restore: entry %d: bad lengths (%v)", n, err)
		}
		kv := make([]byte, kl+vl)
		if _, err := io.ReadFull(br, kv); err != nil {
			return fmt.Errorf("restore: entry %d: %w", n, err)
		}
		if err := wb.Set(kv[:kl], kv[kl:]); err != nil {
			return fmt.Errorf("restore: entry %d: %w", n, err)
		}
		n++
	}
	if err := wb.Flush(); err != nil {
		return fmt.Errorf("restore: write state: %w", err)
	}
	if err := f.ensureYearLevel(); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	f.hot.load(f.db, f.log)
	f.broken.Store(false)
	// Counted before the applied index moves: whoever waits on that index
	// sees the restore that brought it.
	f.restores.Add(1)
	f.setApplied(index)
	f.signalNodesChanged()
	return nil
}

// Restores is how many snapshots were restored since the state was opened.
func (f *FSM) Restores() uint64 { return f.restores.Load() }

// putCommuneAgency settles the agency e-IDs of a commune being put: an
// empty e-ID keeps the one registered, a new one sends the old one to the
// commune's former e-IDs (which the request cannot set), and an e-ID
// another commune holds or held is refused, so that the codes issued
// under it stay unique without coordination (dossier/code.go).
func putCommuneAgency(st *stateTxn, cm *xasov1.Commune) *xasov1.CommandResult {
	old := &xasov1.Commune{}
	st.getProto([]byte(prefixCommune+cm.GetCode()), old)
	cm.FormerAgencyIds = old.GetFormerAgencyIds()
	if cm.GetAgencyId() == "" {
		cm.AgencyId = old.GetAgencyId()
		return nil
	}
	all, err := listTxn(st.txn, prefixCommune, func() *xasov1.Commune { return &xasov1.Commune{} })
	if err != nil {
		// The state's own records cannot be read: the disk, not the input.
		panic(fmt.Sprintf("central state: read communes: %v", err))
	}
	for _, o := range all {
		if o.GetCode() != cm.GetCode() && (o.GetAgencyId() == cm.GetAgencyId() || slices.Contains(o.GetFormerAgencyIds(), cm.GetAgencyId())) {
			return refused(codes.AlreadyExists, "agency e-ID %s is or was commune %s's", cm.GetAgencyId(), o.GetCode())
		}
	}
	if a := old.GetAgencyId(); a != "" && a != cm.GetAgencyId() && !slices.Contains(cm.FormerAgencyIds, a) {
		if len(cm.FormerAgencyIds) >= maxFormerAgencyIDs {
			return refused(codes.ResourceExhausted, "commune %s changed its agency e-ID %d times already", cm.GetCode(), maxFormerAgencyIDs)
		}
		cm.FormerAgencyIds = append(slices.Clone(cm.FormerAgencyIds), a)
	}
	return nil
}

// maxFormerAgencyIDs bounds the e-IDs a commune keeps from before.
const maxFormerAgencyIDs = 16

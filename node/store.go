package node

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/badger/v4"
	"google.golang.org/protobuf/proto"

	xasov1 "github.com/xaso/xaso/api/proto/xaso/v1"
	"github.com/xaso/xaso/diskusage"
	"github.com/xaso/xaso/dossier"
	"github.com/xaso/xaso/internal/atrest"
)

// ErrNotFound is returned when a dossier, procedure or attachment does not exist.
var ErrNotFound = errors.New("not found")

// ErrClosed is returned by a store that is closed.
var ErrClosed = errors.New("store closed")

// StoreOptions configure a Store.
type StoreOptions struct {
	// Dir is the Badger directory; created when missing.
	Dir string
	// EncryptionKey, 16, 24 or 32 bytes, encrypts the store at rest (AES).
	// Without it, the key file a node keeps beside the store when none is
	// configured ({Dir}.key, see Config.KeyFile) is used when it exists;
	// otherwise the store is opened (or made) without encryption, which
	// only node.Open refuses (tests and tools open stores here).
	EncryptionKey []byte
	// Unencrypted opens the store without encryption, not looking for
	// {Dir}.key (node.Open, for a store made without it, when the
	// configuration allows that).
	Unencrypted bool
	// NoSync skips the fsync on commit. For benchmarks only: an acknowledged
	// change may be lost in a power cut.
	NoSync bool
	// Logger receives Badger's warnings and the store's own events.
	Logger *slog.Logger
}

// Store is the node's database: dossiers, their events, the outbox and the
// indexes, in one Badger database. Every change is one atomic write of the
// dossier, its indexes and its outbox record; concurrent changes are
// committed together (group commit) by one writer goroutine, so that the
// outbox sequence is dense and one fsync serves many clerks.
type Store struct {
	db        *badger.DB
	log       *slog.Logger
	idKey     []byte
	encrypted bool

	reqs    chan *writeReq
	stop    chan struct{}
	stopped chan struct{}
	once    sync.Once

	mu       sync.Mutex // guards the fields below, written by the writer only
	head     outboxHead
	access   int64 // last access log sequence
	acked    int64
	feed     uint64
	uploads  uint64 // last upload queue position
	uploaded uint64 // last position central holds in full
	counts   map[dossier.State]int64
	changed  chan struct{} // closed when the outbox grows

	lastContact atomic.Int64 // unix nanoseconds; set by replication
	restoring   atomic.Bool  // desk changes wait for a restore from central
}

type outboxHead struct {
	seq  int64
	hash []byte
}

// OpenStore opens (or creates) the store in opts.Dir.
func OpenStore(opts StoreOptions) (*Store, error) {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	bo := badger.DefaultOptions(opts.Dir).
		WithSyncWrites(!opts.NoSync).
		WithLogger(badgerLogger{log}).
		WithDetectConflicts(false). // one writer goroutine: nothing to conflict with
		WithNumVersionsToKeep(1).
		WithMemTableSize(16 << 20).
		WithNumMemtables(2).
		WithNumLevelZeroTables(2).
		WithNumLevelZeroTablesStall(8).
		WithBaseTableSize(4 << 20).
		WithValueLogFileSize(128 << 20).
		WithBlockCacheSize(32 << 20).
		WithIndexCacheSize(16 << 20).
		WithNumCompactors(2).
		WithValueThreshold(1 << 10)
	if len(opts.EncryptionKey) == 0 && !opts.Unencrypted {
		k, err := atrest.ReadKeyFile(atrest.DefaultKeyFile(opts.Dir))
		switch {
		case err == nil:
			opts.EncryptionKey = k
		case !errors.Is(err, fs.ErrNotExist):
			return nil, fmt.Errorf("open store %s: %w", opts.Dir, err)
		}
	}
	if len(opts.EncryptionKey) > 0 {
		bo = bo.WithEncryptionKey(opts.EncryptionKey).WithEncryptionKeyRotationDuration(30 * 24 * time.Hour)
	}
	db, err := badger.Open(bo)
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", opts.Dir, err)
	}
	s := &Store{db: db, log: log, encrypted: len(opts.EncryptionKey) > 0, reqs: make(chan *writeReq, 1024), stop: make(chan struct{}), stopped: make(chan struct{}), counts: map[dossier.State]int64{}, changed: make(chan struct{})}
	if err := s.load(); err != nil {
		db.Close()
		return nil, err
	}
	go s.writer()
	return s, nil
}

// load reads the outbox head, the counters and the identity-hash key,
// creating the key on first use.
func (s *Store) load() error {
	return s.db.Update(func(txn *badger.Txn) error {
		v, err := getValue(txn, []byte(keyHead))
		switch {
		case err == nil && len(v) == 8+sha256.Size:
			s.head = outboxHead{seq: int64(binary.BigEndian.Uint64(v)), hash: v[8:]}
		case err == nil:
			return fmt.Errorf("load outbox head: %d bytes, want %d", len(v), 8+sha256.Size)
		case !errors.Is(err, ErrNotFound):
			return fmt.Errorf("load outbox head: %w", err)
		default:
			s.head = outboxHead{hash: dossier.GenesisHash()}
		}
		if v, err := getValue(txn, []byte(keyAccessHead)); err == nil && len(v) == 8 {
			s.access = int64(binary.BigEndian.Uint64(v))
		}
		if v, err := getValue(txn, []byte(keyAcked)); err == nil && len(v) == 8 {
			s.acked = int64(binary.BigEndian.Uint64(v))
		}
		if v, err := getValue(txn, []byte(keyFeed)); err == nil && len(v) == 8 {
			s.feed = binary.BigEndian.Uint64(v)
		}
		if v, err := getValue(txn, []byte(keyUploadHead)); err == nil && len(v) == 8 {
			s.uploads = binary.BigEndian.Uint64(v)
		}
		if v, err := getValue(txn, []byte(keyUploaded)); err == nil && len(v) == 8 {
			s.uploaded = binary.BigEndian.Uint64(v)
		}
		for st := range xasov1.State_name {
			if v, err := getValue(txn, countKey(dossier.State(st))); err == nil && len(v) == 8 {
				s.counts[dossier.State(st)] = int64(binary.BigEndian.Uint64(v))
			}
		}
		s.idKey, err = getValue(txn, []byte(keyIDKey))
		if errors.Is(err, ErrNotFound) {
			s.idKey = make([]byte, 32)
			if _, err := rand.Read(s.idKey); err != nil {
				return fmt.Errorf("make identity hash key: %w", err)
			}
			return txn.Set([]byte(keyIDKey), s.idKey)
		}
		return err
	})
}

// Encrypted says whether the store is encrypted at rest.
func (s *Store) Encrypted() bool { return s.encrypted }

// Close stops the writer, waits for changes under way and closes Badger.
func (s *Store) Close() error {
	var err error
	s.once.Do(func() {
		close(s.stop)
		<-s.stopped
		err = s.db.Close()
	})
	return err
}

// idHash is the keyed hash of a citizen identity number used in index keys.
func (s *Store) idHash(id string) []byte {
	m := hmac.New(sha256.New, s.idKey)
	m.Write([]byte(id))
	return m.Sum(nil)[:16]
}

// LookupCheck is the check value of a dossier's code that the receipt
// prints and its QR code carries: 8 characters of a keyed hash of the code
// (the store's secret key, as for identity numbers, with its own domain).
// The citizen's look-up shows a dossier's details only with it, so that
// codes, which are sequential, cannot be walked. A machine replaced from
// central has a new key: receipts it did not print show only that their
// dossier exists.
func (s *Store) LookupCheck(code string) string {
	m := hmac.New(sha256.New, s.idKey)
	m.Write([]byte("tra-cuu\x00" + code))
	return base32.StdEncoding.EncodeToString(m.Sum(nil)[:5])
}

// Counts returns the number of dossiers in each state.
func (s *Store) Counts() map[dossier.State]int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[dossier.State]int64, len(s.counts))
	for k, v := range s.counts {
		out[k] = v
	}
	return out
}

// OutboxHead returns the last outbox sequence and the last one central acknowledged.
func (s *Store) OutboxHead() (last, acked int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.head.seq, s.acked
}

// Size returns the bytes the store's files take on disk: the blocks
// allocated to its LSM tables and value log, as du counts them.
// badger.DB.Size would count the value log's preallocated length instead
// (2 GiB for a store holding a few kilobytes). An in-memory store (tests)
// reports Badger's own estimate.
func (s *Store) Size() (int64, error) {
	o := s.db.Opts()
	if o.InMemory {
		lsm, vlog := s.db.Size()
		return lsm + vlog, nil
	}
	return diskusage.Of(o.Dir, o.ValueDir)
}

func getValue(txn *badger.Txn, key []byte) ([]byte, error) {
	item, err := txn.Get(key)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, ErrNotFound
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
	if err := proto.Unmarshal(v, m); err != nil {
		return fmt.Errorf("decode %q: %w", key, err)
	}
	return nil
}

// view runs fn in a read-only transaction.
func (s *Store) view(fn func(txn *badger.Txn) error) error { return s.db.View(fn) }

// badgerLogger sends Badger's log to slog, dropping its chatty info lines.
type badgerLogger struct{ l *slog.Logger }

func (b badgerLogger) Errorf(f string, a ...any)   { b.l.Error("badger: " + fmt.Sprintf(f, a...)) }
func (b badgerLogger) Warningf(f string, a ...any) { b.l.Warn("badger: " + fmt.Sprintf(f, a...)) }
func (b badgerLogger) Infof(string, ...any)        {}
func (b badgerLogger) Debugf(string, ...any)       {}

// CountOverdue counts open dossiers whose clock runs and whose due time is
// before now, reading only keys of the due-time index.
func (s *Store) CountOverdue(now time.Time) (int, error) {
	n := 0
	stop := cat([]byte(prefixByDue), be64(uint64(max(now.Unix(), 0))))
	err := s.view(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte(prefixByDue)})
		defer it.Close()
		for it.Rewind(); it.Valid() && bytes.Compare(it.Item().Key(), stop) < 0; it.Next() {
			n++
		}
		return nil
	})
	return n, err
}

// OutboxBytes sums the encoded size of the outbox records from sequence from on.
func (s *Store) OutboxBytes(from int64) (int64, error) {
	var n int64
	err := s.view(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte(prefixOutbox)})
		defer it.Close()
		for it.Seek(outboxKey(from)); it.Valid(); it.Next() {
			n += it.Item().ValueSize()
		}
		return nil
	})
	return n, err
}

// LastContact is when central last answered; zero when it never has.
func (s *Store) LastContact() time.Time {
	if n := s.lastContact.Load(); n != 0 {
		return time.Unix(0, n)
	}
	return time.Time{}
}

// CalendarJSON returns the stored working calendar.
func (s *Store) CalendarJSON() ([]byte, error) {
	var v []byte
	err := s.view(func(txn *badger.Txn) (err error) {
		v, err = getValue(txn, []byte(keyCalendar))
		return err
	})
	return v, err
}

// PutCalendarJSON stores a working calendar after checking it parses.
func (s *Store) PutCalendarJSON(ctx context.Context, data []byte) error {
	if _, err := dossier.ParseCalendar(data); err != nil {
		return err
	}
	_, err := s.write(ctx, func(*badger.Txn) (*effect, error) {
		eff := newEffect()
		eff.set([]byte(keyCalendar), data)
		return eff, nil
	})
	return err
}

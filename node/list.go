package node

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"hash/fnv"
	"regexp"
	"strings"
	"time"

	"github.com/dgraph-io/badger/v4"
	"google.golang.org/protobuf/proto"

	xasov1 "github.com/xaso/xaso/api/proto/xaso/v1"
	"github.com/xaso/xaso/dossier"
)

// Filter is a parsed ListDossiers filter: a conjunction of conditions.
type Filter struct {
	text      string
	state     dossier.State
	overdue   bool
	assignee  string
	idNumber  string
	procedure string
	received  timeRange
	due       timeRange
}

type timeRange struct {
	set            bool
	lo, hi         time.Time // zero: unbounded
	loIncl, hiIncl bool
}

func (r *timeRange) add(op string, t time.Time) {
	r.set = true
	switch op {
	case ">", ">=":
		if r.lo.IsZero() || t.After(r.lo) {
			r.lo, r.loIncl = t, op == ">="
		}
	case "<", "<=":
		if r.hi.IsZero() || t.Before(r.hi) {
			r.hi, r.hiIncl = t, op == "<="
		}
	}
}

func (r timeRange) contains(t time.Time) bool {
	if !r.lo.IsZero() && (t.Before(r.lo) || (!r.loIncl && t.Equal(r.lo))) {
		return false
	}
	if !r.hi.IsZero() && (t.After(r.hi) || (!r.hiIncl && t.Equal(r.hi))) {
		return false
	}
	return true
}

var condRE = regexp.MustCompile(`^\s*([a-z_]+)\s*(<=|>=|=|<|>)\s*(.*?)\s*$`)

// ParseFilter parses `field op value [AND field op value …]`. Errors name
// what is wrong, to be returned as a violation of the field "filter".
func ParseFilter(s string) (Filter, error) {
	f := Filter{text: s}
	if strings.TrimSpace(s) == "" {
		return f, nil
	}
	if len(s) > 1000 {
		return f, fmt.Errorf("at most 1000 bytes")
	}
	for _, cond := range strings.Split(s, " AND ") {
		m := condRE.FindStringSubmatch(cond)
		if m == nil {
			return f, fmt.Errorf("%q is not `field op value`", strings.TrimSpace(cond))
		}
		field, op, val := m[1], m[2], strings.Trim(m[3], `"`)
		eqOnly := func() error {
			if op != "=" {
				return fmt.Errorf("%s takes only =", field)
			}
			if val == "" {
				return fmt.Errorf("%s needs a value", field)
			}
			return nil
		}
		switch field {
		case "state":
			if err := eqOnly(); err != nil {
				return f, err
			}
			n, ok := xasov1.State_value["STATE_"+strings.TrimPrefix(strings.ToUpper(val), "STATE_")]
			if !ok || n == 0 {
				return f, fmt.Errorf("state %q is not a dossier state", val)
			}
			f.state = dossier.State(n)
		case "overdue":
			if err := eqOnly(); err != nil {
				return f, err
			}
			if val != "true" {
				return f, fmt.Errorf("overdue takes only = true")
			}
			f.overdue = true
		case "assignee", "applicant_id_number", "procedure_code":
			if err := eqOnly(); err != nil {
				return f, err
			}
			switch field {
			case "assignee":
				f.assignee = val
			case "applicant_id_number":
				if !dossier.ValidIDNumber(val) {
					return f, fmt.Errorf("applicant_id_number %q is not 12 digits", val)
				}
				f.idNumber = val
			default:
				f.procedure = val
			}
		case "received_time", "due_time":
			if op == "=" {
				return f, fmt.Errorf("%s takes <, <=, > or >=", field)
			}
			t, err := parseFilterTime(val)
			if err != nil {
				return f, fmt.Errorf("%s: %w", field, err)
			}
			if field == "due_time" {
				f.due.add(op, t)
			} else {
				f.received.add(op, t)
			}
		default:
			return f, fmt.Errorf("unknown field %q: use state, overdue, assignee, applicant_id_number, procedure_code, received_time or due_time", field)
		}
	}
	return f, nil
}

func parseFilterTime(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if t, err := time.ParseInLocation(time.DateOnly, s, dossier.Zone); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("%q is neither an RFC 3339 time nor a YYYY-MM-DD date", s)
}

func (f Filter) match(d *dossier.Dossier, now time.Time) bool {
	switch {
	case f.state != 0 && d.GetState() != f.state,
		f.assignee != "" && d.GetAssignee() != f.assignee,
		f.idNumber != "" && d.GetApplicant().GetIdNumber() != f.idNumber,
		f.procedure != "" && d.GetProcedureCode() != f.procedure,
		f.received.set && !f.received.contains(d.GetReceivedTime().AsTime()),
		f.due.set && (d.GetDueTime() == nil || !f.due.contains(d.GetDueTime().AsTime())),
		f.overdue && !(clockRuns(d) && d.GetDueTime().AsTime().Before(now)):
		return false
	}
	return true
}

// ErrBadPageToken is returned for a page token this filter did not make.
var ErrBadPageToken = fmt.Errorf("page token does not belong to this filter")

// List returns up to pageSize dossiers matching f after the page token, and
// the token of the next page ("" at the end). It reads an index chosen by
// the filter: the applicant's, the state's, the due times (overdue first),
// the receipt times, or else every dossier by code.
func (s *Store) List(f Filter, pageSize int, token string, now time.Time) ([]*dossier.Dossier, string, error) {
	h := fnv.New64a()
	h.Write([]byte(f.text))
	tag := h.Sum(nil)
	var after []byte
	if token != "" {
		raw, err := base64.RawURLEncoding.DecodeString(token)
		if err != nil || len(raw) < 8 || !bytes.Equal(raw[:8], tag) {
			return nil, "", ErrBadPageToken
		}
		after = raw[8:]
	}

	prefix, start, stop := s.plan(f, now)
	if after != nil {
		if !bytes.HasPrefix(after, prefix) {
			return nil, "", ErrBadPageToken
		}
		start = after
	}
	var out []*dossier.Dossier
	var last []byte
	more := false
	budget := 20*pageSize + 1000 // bound the work of one page; a page may come back short
	err := s.view(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix, PrefetchValues: bytes.Equal(prefix, []byte(prefixDossier))})
		defer it.Close()
		for it.Seek(start); it.Valid(); it.Next() {
			k := it.Item().Key()
			if after != nil && bytes.Equal(k, after) {
				continue
			}
			if stop != nil && bytes.Compare(k, stop) > 0 {
				break
			}
			if len(out) == pageSize || budget == 0 {
				more = true
				break
			}
			budget--
			last = it.Item().KeyCopy(nil)
			d := &dossier.Dossier{}
			var err error
			if bytes.HasPrefix(k, []byte(prefixDossier)) {
				err = it.Item().Value(func(v []byte) error { return proto.Unmarshal(v, d) })
			} else {
				err = getProto(txn, dossierKey(codeFromIndexKey(k)), d)
			}
			if err != nil {
				return fmt.Errorf("list: read %q: %w", k, err)
			}
			if f.match(d, now) {
				out = append(out, d)
			}
		}
		return nil
	})
	if err != nil || !more {
		return out, "", err
	}
	return out, base64.RawURLEncoding.EncodeToString(append(tag, last...)), nil
}

// plan chooses the index to scan: its prefix, the key to start from and the
// key after which nothing can match (nil: the end of the prefix).
func (s *Store) plan(f Filter, now time.Time) (prefix, start, stop []byte) {
	timeKeys := func(p string, r timeRange) ([]byte, []byte, []byte) {
		start := []byte(p)
		if !r.lo.IsZero() {
			start = cat([]byte(p), be64(uint64(max(r.lo.Unix(), 0))))
		}
		var stop []byte
		if !r.hi.IsZero() {
			stop = cat([]byte(p), be64(uint64(max(r.hi.Unix(), 0))), []byte{0xff})
		}
		return []byte(p), start, stop
	}
	switch {
	case f.idNumber != "":
		p := cat([]byte(prefixByID), s.idHash(f.idNumber), []byte("/"))
		return p, p, nil
	case f.state != 0:
		p := []byte(prefixByState + string([]byte{byte(f.state), '/'}))
		return p, p, nil
	case f.overdue || f.due.set:
		r := f.due
		if f.overdue && (r.hi.IsZero() || now.Before(r.hi)) {
			r.hi = now
		}
		return timeKeys(prefixByDue, r)
	case f.received.set:
		return timeKeys(prefixByReceived, f.received)
	default:
		return []byte(prefixDossier), []byte(prefixDossier), nil
	}
}

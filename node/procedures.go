package node

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"unicode"

	"github.com/dgraph-io/badger/v4"
	"golang.org/x/text/runes"
	"golang.org/x/text/transform"
	"golang.org/x/text/unicode/norm"
	"google.golang.org/protobuf/proto"

	xasov1 "github.com/xaso/xaso/api/proto/xaso/v1"
	"github.com/xaso/xaso/dossier"
)

// PutProcedure stores p as the current version of its procedure. Its version
// must be above the one stored; an equal version with equal content is a no-op.
func (s *Store) PutProcedure(ctx context.Context, p *xasov1.Procedure) error {
	if err := dossier.ValidateProcedure(p); err != nil {
		return err
	}
	_, err := s.write(ctx, func(txn *badger.Txn) (*effect, error) {
		cur := &xasov1.Procedure{}
		err := getProto(txn, procedureKey(p.GetCode()), cur)
		switch {
		case err == nil && cur.GetVersion() == p.GetVersion() && proto.Equal(cur, p):
			return newEffect(), nil
		case err == nil && cur.GetVersion() >= p.GetVersion():
			return nil, dossier.Violations{{Field: "version", Description: fmt.Sprintf("procedure %s is at version %d already", p.GetCode(), cur.GetVersion())}}
		case err != nil && !errors.Is(err, ErrNotFound):
			return nil, err
		}
		v, err := proto.Marshal(p)
		if err != nil {
			return nil, fmt.Errorf("encode procedure %s: %w", p.GetCode(), err)
		}
		eff := newEffect()
		eff.set(procedureKey(p.GetCode()), v)
		eff.set(procVersionKey(p.GetCode(), p.GetVersion()), v)
		return eff, nil
	})
	return err
}

// SeedCatalogue stores procs when the node has no catalogue yet.
func (s *Store) SeedCatalogue(ctx context.Context, procs []*xasov1.Procedure) error {
	empty := true
	if err := s.view(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte(prefixProcedure)})
		defer it.Close()
		it.Rewind()
		empty = !it.Valid()
		return nil
	}); err != nil {
		return err
	}
	if !empty {
		return nil
	}
	for _, p := range procs {
		if err := s.PutProcedure(ctx, p); err != nil {
			return fmt.Errorf("seed procedure %s: %w", p.GetCode(), err)
		}
	}
	return nil
}

// Procedure returns the current version of a procedure.
func (s *Store) Procedure(code string) (*xasov1.Procedure, error) {
	p := &xasov1.Procedure{}
	if err := s.view(func(txn *badger.Txn) error { return getProto(txn, procedureKey(code), p) }); err != nil {
		return nil, fmt.Errorf("procedure %s: %w", code, err)
	}
	return p, nil
}

// Procedures returns the current catalogue, by code, narrowed to a field
// and to the procedures whose code or name holds every word of query
// (case and Vietnamese accents ignored).
func (s *Store) Procedures(field, query string) ([]*xasov1.Procedure, error) {
	words := strings.Fields(fold(query))
	var out []*xasov1.Procedure
	err := s.view(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte(prefixProcedure), PrefetchValues: true})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			p := &xasov1.Procedure{}
			if err := it.Item().Value(func(v []byte) error { return proto.Unmarshal(v, p) }); err != nil {
				return fmt.Errorf("decode procedure: %w", err)
			}
			if field != "" && fold(p.GetField()) != fold(field) {
				continue
			}
			hay := fold(p.GetCode() + " " + p.GetName())
			match := true
			for _, w := range words {
				if !strings.Contains(hay, w) {
					match = false
					break
				}
			}
			if match {
				out = append(out, p)
			}
		}
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].GetCode() < out[j].GetCode() })
	return out, err
}

// fold lower-cases s and strips Vietnamese diacritics, so that "khai sinh"
// finds "Đăng ký khai sinh" and "dang ky" finds it too.
func fold(s string) string {
	t := transform.Chain(norm.NFD, runes.Remove(runes.In(unicode.Mn)), norm.NFC)
	out, _, err := transform.String(t, strings.ToLower(s))
	if err != nil {
		out = strings.ToLower(s)
	}
	return strings.NewReplacer("đ", "d").Replace(out)
}

// procedureVersion returns one version of a procedure (the one a dossier
// was received under).
func (s *Store) procedureVersion(code string, version int32) (*xasov1.Procedure, error) {
	p := &xasov1.Procedure{}
	if err := s.view(func(txn *badger.Txn) error { return getProto(txn, procVersionKey(code, version), p) }); err != nil {
		return nil, fmt.Errorf("procedure %s version %d: %w", code, version, err)
	}
	return p, nil
}

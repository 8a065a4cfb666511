package node

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/dgraph-io/badger/v4"
	"google.golang.org/protobuf/types/known/timestamppb"

	xasov1 "github.com/xaso/xaso/api/proto/xaso/v1"
	"github.com/xaso/xaso/dossier"
)

// ErrNotDrained says that a seal was asked for while central has not
// acknowledged every record: the node seals only once all it did is at
// central, so that nothing done offline is lost.
var ErrNotDrained = errors.New("the outbox is not drained: central has not taken every record yet")

// Seal writes the seal record that closes the chain of a commune that
// ceased in a succession: only after the succession's effective time,
// once every record is acknowledged by central, and once. It reports
// whether it wrote one (false, nil: no succession concerns the commune,
// or it is not yet in effect, or the node sealed already). Central, when
// it applies the seal, hands the commune's unfinished dossiers to the
// successor; the node writes no dossier event after it (checkSealed).
func (s *Store) Seal(ctx context.Context, commune string, now time.Time) (bool, error) {
	if s.restoring.Load() {
		return false, ErrRestoring
	}
	res, err := s.write(ctx, func(txn *badger.Txn) (*effect, error) {
		sc := &xasov1.Succession{}
		switch err := getProto(txn, []byte(keySuccession), sc); {
		case errors.Is(err, ErrNotFound):
			return &effect{result: false}, nil
		case err != nil:
			return nil, fmt.Errorf("succession: %w", err)
		}
		if now.Before(sc.GetEffectiveTime().AsTime()) {
			return &effect{result: false}, nil
		}
		if _, err := txn.Get([]byte(keySealed)); err == nil {
			return &effect{result: false}, nil
		} else if !errors.Is(err, badger.ErrKeyNotFound) {
			return nil, err
		}
		if last, acked := s.OutboxHead(); acked < last {
			return nil, ErrNotDrained
		}
		eff := newEffect()
		eff.events = append(eff.events, outEvent{commune: commune, seal: &xasov1.SuccessionSeal{Time: timestamppb.New(now), SuccessorCode: sc.GetSuccessorCode()}})
		eff.set([]byte(keySealed), []byte(now.UTC().Format(time.RFC3339)))
		eff.result = true
		return eff, nil
	})
	if err != nil {
		return false, err
	}
	return res.(bool), nil
}

// checkSealed refuses an event on d once the node sealed its chain: the
// dossier is the successor's (or stays, finished, readable at central).
func checkSealed(txn *badger.Txn, d *dossier.Dossier) error {
	if _, err := txn.Get([]byte(keySealed)); errors.Is(err, badger.ErrKeyNotFound) {
		return nil
	} else if err != nil {
		return err
	}
	return &dossier.OwnerError{Commune: d.GetCommuneCode(), Dossier: d.GetCode(), Why: "the commune ceased and sealed its chain: the successor handles its dossiers"}
}

// sealWhenDrained seals the commune's chain (Store.Seal) as soon as a
// succession it ceases in is in effect and central holds every record:
// it tries when the outbox changes and every interval (the effective
// time passing changes nothing in the store), until sealed or ctx ends.
func (n *Node) sealWhenDrained(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		changed := n.store.OutboxChanged()
		due, sealed, err := n.store.sealDue(n.now())
		if sealed {
			return
		}
		ok := false
		if err == nil && due {
			ok, err = n.store.Seal(ctx, n.cfg.Commune, n.now())
		}
		switch {
		case ok:
			n.log.Info("succession: chain sealed; central hands the unfinished dossiers to the successor", "commune", n.cfg.Commune)
		case err != nil && !errors.Is(err, ErrNotDrained) && ctx.Err() == nil:
			n.log.Warn("succession: seal", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-changed:
		}
	}
}

// sealDue reads, without a write, whether a seal is due at now (a
// succession in effect) and whether the node sealed already.
func (s *Store) sealDue(now time.Time) (due, sealed bool, err error) {
	err = s.view(func(txn *badger.Txn) error {
		if _, err := txn.Get([]byte(keySealed)); err == nil {
			sealed = true
			return nil
		} else if !errors.Is(err, badger.ErrKeyNotFound) {
			return err
		}
		sc := &xasov1.Succession{}
		switch err := getProto(txn, []byte(keySuccession), sc); {
		case errors.Is(err, ErrNotFound):
			return nil
		case err != nil:
			return err
		}
		due = !now.Before(sc.GetEffectiveTime().AsTime())
		return nil
	})
	return due, sealed, err
}

package node

import (
	"cmp"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/dgraph-io/badger/v4"
	"google.golang.org/protobuf/proto"

	xasov1 "github.com/xaso/xaso/api/proto/xaso/v1"
	"github.com/xaso/xaso/dossier"
	"github.com/xaso/xaso/web"
)

// The desk offers lists where a list belongs (issue 22): the people a
// dossier may be handed to are the node's users with the role that takes
// it, the communes a dossier may be transferred to are the province's
// registered communes, by name.

// personView is one user a dossier may be handed to.
type personView struct{ Name, FullName string }

// communeView is one registered commune a dossier may be transferred to.
type communeView struct{ Code, Name string }

// assigneeRoles are the users' roles (users file) an action may hand a
// dossier to: the clerk assigns it to an officer who processes it
// (Decree 118/2025 art. 17); an officer or a leader forwards it to another
// officer or a leader (art. 18).
func assigneeRoles(a dossier.Action) []string {
	switch a {
	case dossier.Assign:
		return []string{"officer"}
	case dossier.Forward:
		return []string{"officer", "leader"}
	}
	return nil
}

// peopleFor lists the node's users an action may hand a dossier to, by
// full name.
func peopleFor(us map[string]User, a dossier.Action) []personView {
	roles := assigneeRoles(a)
	var out []personView
	for name, u := range us {
		if slices.Contains(roles, u.Role) {
			out = append(out, personView{Name: name, FullName: cmp.Or(u.FullName, name)})
		}
	}
	slices.SortFunc(out, func(x, y personView) int {
		return strings.Compare(x.FullName+"\x00"+x.Name, y.FullName+"\x00"+y.Name)
	})
	return out
}

// destructive reports whether an action ends the commune's work on a
// dossier against the applicant's expectation, so that the desk styles it
// as such and asks to confirm: a refusal (Decree 118/2025 art. 19), a
// withdrawal (art. 21), closing a dossier never supplemented, a transfer
// to another commune (art. 20).
func destructive(a dossier.Action) bool {
	switch a {
	case dossier.Refuse, dossier.Withdraw, dossier.CloseUnsupplemented, dossier.Transfer:
		return true
	}
	return false
}

// Communes returns the province's communes central sent (sync.go), by
// name; none when central has sent none.
func (s *Store) Communes() ([]*xasov1.Commune, error) {
	var out []*xasov1.Commune
	err := s.view(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte(prefixCommune), PrefetchValues: true})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			v, err := it.Item().ValueCopy(nil)
			if err != nil {
				return err
			}
			c := &xasov1.Commune{}
			if err := proto.Unmarshal(v, c); err != nil {
				return fmt.Errorf("decode commune %q: %w", it.Item().Key(), err)
			}
			out = append(out, c)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read the registered communes: %w", err)
	}
	slices.SortFunc(out, func(x, y *xasov1.Commune) int {
		return strings.Compare(x.GetName()+x.GetCode(), y.GetName()+y.GetCode())
	})
	return out, nil
}

// transferTargets lists the registered communes but this one.
func transferTargets(cs []*xasov1.Commune, own string) []communeView {
	var out []communeView
	for _, c := range cs {
		if c.GetCode() != own {
			out = append(out, communeView{Code: c.GetCode(), Name: cmp.Or(c.GetName(), c.GetCode())})
		}
	}
	return out
}

// noticeData is a desk page that only says something, with a way back:
// an unknown dossier code, a dossier this commune does not hold.
type noticeData struct {
	// Title and Message are message keys (web/messages.go); Subject is
	// what the user typed, shown as typed.
	Title, Message, Subject string
	// Back is where the way back goes, BackLabel its message key.
	Back, BackLabel string
}

// notice answers a desk request with a notice page in the user's language
// (the queue, with its 'Mở hồ sơ' box, is the way back).
func (p *pages) notice(w http.ResponseWriter, r *http.Request, status int, d noticeData) {
	lang := web.PickLang(w, r)
	se, _ := p.session(r)
	if d.Back == "" {
		d.Back, d.BackLabel = "/ban", "notice.back"
	}
	p.pages.Render(w, status, "notice", p.page(r.Context(), lang, se, r.URL.Path, web.Message(lang, d.Title), d))
}

// checkAssignee refuses to hand a dossier to anyone but a user of this
// node with a role that takes it (assigneeRoles): a made-up name would
// leave the dossier with no one. A node with no users file (API clients
// only) has no users to check against and takes any name.
func checkAssignee(us *users, a dossier.Action, assignee string) error {
	roles := assigneeRoles(a)
	if us == nil || len(roles) == 0 || strings.TrimSpace(assignee) == "" {
		return nil
	}
	all, err := us.current()
	if errors.Is(err, errNoUsers) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read the users to check the assignee: %w", err)
	}
	if u, ok := all[assignee]; ok && slices.Contains(roles, u.Role) {
		return nil
	}
	return dossier.Violations{{Field: "assignee", Code: dossier.CodeNotAssignable,
		Description: fmt.Sprintf("%q is no user of this commune with role %s", assignee, strings.Join(roles, " or "))}}
}

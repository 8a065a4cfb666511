package node

import (
	"context"

	"github.com/xaso/xaso/dossier"
)

// Via says how a caller proved who it is.
type Via string

// The ways a caller of the node is authenticated.
const (
	// ViaSession is an official signed in at the desk (the browser's
	// session cookie, on the pages and on the REST API alike).
	ViaSession Via = "session"
	// ViaToken is an API client with a token from the node's tokens file.
	ViaToken Via = "token"
	// ViaCertificate is an API client with a certificate the province CA
	// issued for this commune.
	ViaCertificate Via = "certificate"
	// ViaProcess is code inside the node's own process (the demo's
	// simulated desks, tests): never reachable from the network.
	ViaProcess Via = "process"
)

// Principal is who makes a call: the actor recorded on the events it
// causes, and the role the workflow checks. Nothing in a request body can
// change it.
type Principal struct {
	// Name is the official's sign-in name, or the token's or
	// certificate's name.
	Name string
	// Role is the workflow role (clerk, officer, leader), or 0 for a
	// monitoring client, which may read the node's health but no dossier.
	Role dossier.Role
	// Via says how the caller was authenticated.
	Via Via
	// Addr is the client's address, as the access log records it.
	Addr string
}

// Official reports whether p acts in the workflow (and may read dossiers).
func (p Principal) Official() bool { return p.Role != 0 }

type principalKey struct{}

// WithPrincipal returns ctx carrying p. The node's interceptors and HTTP
// middleware set it from a request's credentials; code inside the node's
// process (the demo, tests) sets it to act as someone.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFrom returns the principal ctx carries, if any.
func PrincipalFrom(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok && p.Name != ""
}

// ActAs returns ctx in which code inside the node's process (the demo's
// simulated desks, tests) calls the node's service as the official name
// with role. Nothing from the network reaches it.
func ActAs(ctx context.Context, name string, role dossier.Role) context.Context {
	return WithPrincipal(ctx, Principal{Name: name, Role: role, Via: ViaProcess})
}

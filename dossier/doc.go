// Package dossier is the domain of the one-stop-shop desk, shared by the
// commune node and the central cluster: the workflow of a dossier (which
// action may follow which state, and by which role), the legal clock in
// working days, dossier codes, and validation of what the desk takes in.
//
// It is pure code: no I/O, no clock of its own (callers pass the time), no
// global state. The data it works on are the xaso.v1 protobuf messages, so
// that what the node stores, what the API returns and what replication
// carries are one and the same.
//
// A dossier's state is the fold of its events:
//
//	ev, err := dossier.Decide(d, cmd, cal) // validate an action, compute its event
//	dossier.Apply(d, ev)                   // the event changes the dossier
//	dossier.Fold(events)                   // replays a whole log
package dossier

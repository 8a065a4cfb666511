// Package central is the province's cluster: three or five members on
// hashicorp/raft that hold one consistent view of the province — the
// commune registry, the procedure catalogue with its versions, the working
// calendar, and (as nodes replicate) every dossier and the report
// aggregates.
//
// A Member owns Raft: writes are commands (protobuf, see CentralCommand)
// proposed on the leader with Member.Propose, batched many to a log entry,
// and applied by the FSM to a Badger database. The FSM is deterministic —
// the proposer stamps actor and time — and records every command with its
// result in an audit table. Snapshots stream the Badger state out with a
// versioned header and restore it.
//
// The Raft log is kept by raft-boltdb (v2, on bbolt) behind Raft's
// in-memory log cache. raft-wal was tried first for its one fsync per
// append, but its authors still call it experimental and its tail
// truncation can leave a sealed segment without an index (raft-wal issue
// #31): here a member restarted after its uncommitted suffix was cleared
// (a deposed leader, exactly what weak links produce) panicked on open.
// Its Close also left its metadata database locked. raft-boltdb pays a
// second fsync per append; batching many commands per entry keeps that
// cost small.
//
// Apply keeps a little derived state in memory (hotState): the dossiers
// and report aggregates it wrote last, and a Bloom filter of every dossier
// code, so that a receipt does not search the store's levels for a code
// that cannot be there. It is rebuilt when the state is opened or
// restored, apply writes through it, and it never changes what apply
// decides — only how often it reads the store.
//
// Operators call the API with tokens whose role says what they may do:
// one table (access.go) gives every method a rule, checked in one place
// for gRPC calls, REST calls (the gateway calls the service in process,
// through the same interceptor: local.go) and the dashboard, whose
// sessions are kept in the member's memory (sessions.go). Reading
// citizens' personal data is a role of its own, and every such read is
// logged (personaldata.go).
package central

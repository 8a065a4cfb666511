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
// The Raft log is kept by raft-wal: one fsync per append (raft-boltdb needs
// two) and truncation by deleting segment files, with no free-list growth
// after write bursts. Its authors still call it experimental; the state is
// rebuilt from snapshots and peers, so a member whose log is lost is
// replaced, not repaired.
package central

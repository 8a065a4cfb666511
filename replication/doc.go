// Package replication carries a commune node's changes to central and
// central's changes to the nodes, over gRPC with mutual TLS, built for
// links that are slow, cut for hours, or half-open.
//
// Upstream, a node's Syncer streams its outbox in sequence order (Push)
// to any central member, keeping a window of batches in flight; central
// (Service) proposes each batch through Raft and acknowledges only what
// Raft committed, with the sequence to continue from. The central state
// machine takes a record only when it is exactly the next of the node's
// hash chain: duplicates are dropped and gaps refused, so delivery is
// exactly once whatever the link does.
//
// Downstream, a node pulls the feed — catalogue and calendar versions, its
// commune's sync settings, and dossiers other communes transferred to it —
// from the last item it applied, and applies each item with its checkpoint
// in one transaction.
//
// Files (scans, signed results) go after the events, whenever no event
// waits and the node's upload window is open, and only those a dossier's
// change named (a scan stored for an action the workflow refused stays in
// the commune): the node offers a file's
// manifest and sends, one at a time, the 256 KiB chunks central says it
// lacks, so that a cut costs at most the chunk in flight. Central takes
// chunks through Raft, content-addressed, so every member holds every file
// and snapshots carry them. That keeps one consistent store, but a
// province's scans (hundreds of megabytes a day from a busy commune) will
// outgrow the log and the snapshots: the next step is a blob store beside
// the state, replicated member to member, with only manifests in Raft.
//
// A node first enrolls with a one-time token (Enroll): the token names the
// commune and carries the fingerprint of the province CA, so that the node
// trusts central on first contact; central signs the node's certificate,
// which names its commune. From then on every call is mutual TLS, and
// central takes events only for the commune the certificate names, from a
// node that is enrolled and not revoked.
package replication

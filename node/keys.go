package node

import (
	"encoding/binary"
	"time"

	"github.com/xaso/xaso/dossier"
)

// The node's on-disk layout. Every key starts with a short prefix naming its
// table; numbers are big-endian so that keys sort in numeric order. The
// layout is a contract with the node's own past versions: change it only
// with a migration.
//
//	d/{code}                       dossier (without events)
//	e/{code}/{seq:8}               event seq of a dossier
//	o/{seq:8}                      outbox record seq (dense: 1, 2, 3 …)
//	q/{yymmdd}                     last sequence of the day's legacy codes ({commune}-{yymmdd}-…)
//	q/{series}                     last sequence of a series of agency codes ({agency}-{yymmdd}, or {agency}-{yymmdd}-{commune})
//	k/{request id}                 idempotency key → dossier code (24 h TTL)
//	p/{procedure}                  current procedure version
//	v/{procedure}/{version:4}      every procedure version
//	a/{sha256}                     attachment manifest
//	c/{chunk sha256}               attachment chunk
//	x/s/{state:1}/{code}           index: dossiers by state
//	x/d/{due unix:8}/{code}        index: open dossiers whose clock runs, by due time
//	x/a/{hmac:16}/{code}           index: dossiers by applicant identity number (keyed hash)
//	x/r/{received unix:8}/{code}   index: dossiers by receipt time
//	m/head                         outbox head: last sequence and hash
//	m/acked                        last sequence central acknowledged
//	m/count/{state:1}              number of dossiers in each state
//	m/idkey                        key of the applicant-number hash
//	m/calendar                     working calendar (JSON)
//	m/feed                         last feed item from central applied
//	m/identity                     the node's enrollment: certificate, key, CA
//	m/settings                     sync settings central sent for this commune
//	m/tls_self                     the node's self-signed TLS certificate and its key (PEM; not replicated)
//	u/{position:8}                 upload queue: files for central, in the order dossiers named them
//	f/{sha256}                     a file is in the upload queue (a dossier's change named it)
//	m/upload_head                  last position of the upload queue
//	m/uploaded                     last position central holds in full
//	s/{sha256 of token:32}         desk session (JSON, with a time to live; not replicated)
//	l/{sequence:8}                 access log: entry sequence (dense: 1, 2, 3 …) → the outbox sequence of the record carrying it
//	lc/{code}/{sequence:8}         index: access entries by dossier named → outbox sequence
//	ln/{name}\x00{sequence:8}      index: access entries by reader's name → outbox sequence
//	m/access                       access log head: last entry sequence
//
// The access log (who read which dossiers' personal data) is append-only:
// no code path deletes its keys. Its entries are outbox records (kind
// access, not event), so the outbox's hash chain covers them and central
// holds them once acknowledged.
const (
	prefixDossier = "d/"
	prefixEvent   = "e/"
	prefixOutbox  = "o/"
	// prefixCommune: the province's communes as central sent them, by code.
	prefixCommune    = "cm/"
	prefixDaySeq     = "q/"
	prefixIdem       = "k/"
	prefixProcedure  = "p/"
	prefixProcVer    = "v/"
	prefixAttachment = "a/"
	prefixChunk      = "c/"
	prefixByState    = "x/s/"
	prefixByDue      = "x/d/"
	prefixByID       = "x/a/"
	prefixByReceived = "x/r/"
	keyHead          = "m/head"
	keyAcked         = "m/acked"
	prefixCount      = "m/count/"
	keyIDKey         = "m/idkey"
	keyCalendar      = "m/calendar"
	keyFeed          = "m/feed"
	keyIdentity      = "m/identity"
	keySettings      = "m/settings"
	// keySuccession holds the succession this node's commune ceases in,
	// as central's feed brought it (absent: none).
	keySuccession = "m/succession"
	// keySealed holds when the node wrote its seal (absent: not
	// sealed); it writes no dossier event after it.
	keySealed        = "m/sealed"
	prefixUpload     = "u/"
	prefixUploadMark = "f/"
	keyUploadHead    = "m/upload_head"
	keyUploaded      = "m/uploaded"
	prefixSession    = "s/"
	prefixAccess     = "l/"
	prefixAccessCode = "lc/"
	prefixAccessName = "ln/"
	keyAccessHead    = "m/access"
)

func be64(n uint64) []byte { return binary.BigEndian.AppendUint64(nil, n) }

func cat(parts ...[]byte) []byte {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	out := make([]byte, 0, n)
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func dossierKey(code string) []byte { return []byte(prefixDossier + code) }

func eventKey(code string, seq int64) []byte {
	return cat([]byte(prefixEvent+code+"/"), be64(uint64(seq)))
}

func eventPrefix(code string) []byte { return []byte(prefixEvent + code + "/") }

func uploadKey(pos uint64) []byte { return cat([]byte(prefixUpload), be64(pos)) }

func uploadMarkKey(sha string) []byte { return []byte(prefixUploadMark + sha) }

func outboxKey(seq int64) []byte { return cat([]byte(prefixOutbox), be64(uint64(seq))) }

func accessKey(seq int64) []byte { return cat([]byte(prefixAccess), be64(uint64(seq))) }

func accessCodePrefix(code string) []byte { return []byte(prefixAccessCode + code + "/") }

func accessCodeKey(code string, seq int64) []byte {
	return cat(accessCodePrefix(code), be64(uint64(seq)))
}

// accessNamePrefix ends the name with a zero byte, which no name holds
// (dossier.CheckOwnAccess), so that one name's keys are not another's.
func accessNamePrefix(name string) []byte { return []byte(prefixAccessName + name + "\x00") }

func accessNameKey(name string, seq int64) []byte {
	return cat(accessNamePrefix(name), be64(uint64(seq)))
}

func countKey(s dossier.State) []byte { return []byte{'m', '/', 'c', 'o', 'u', 'n', 't', '/', byte(s)} }

func stateIndexKey(s dossier.State, code string) []byte {
	return cat([]byte(prefixByState), []byte{byte(s), '/'}, []byte(code))
}

func timeIndexKey(prefix string, t time.Time, code string) []byte {
	return cat([]byte(prefix), be64(uint64(t.Unix())), []byte("/"+code))
}

func procedureKey(code string) []byte { return []byte(prefixProcedure + code) }

func procVersionKey(code string, v int32) []byte {
	return cat([]byte(prefixProcVer+code+"/"), binary.BigEndian.AppendUint32(nil, uint32(v)))
}

// codeFromIndexKey returns the dossier code at the end of an index key.
func codeFromIndexKey(k []byte) string {
	for i := len(k) - 1; i >= 0; i-- {
		if k[i] == '/' {
			return string(k[i+1:])
		}
	}
	return ""
}

package central

import (
	"bytes"
	"io"
	"testing"

	"github.com/hashicorp/raft"
	"google.golang.org/protobuf/proto"

	xasov1 "github.com/xaso/xaso/api/proto/xaso/v1"
	"github.com/xaso/xaso/sample"
)

// FuzzApplyEntry: whatever a log entry holds, apply answers (refusing what
// is wrong) and never panics.
func FuzzApplyEntry(f *testing.F) {
	seed := func(cmds ...*xasov1.CentralCommand) []byte {
		b, _ := proto.Marshal(&xasov1.CentralCommandBatch{Format: batchFormat, Commands: cmds})
		return b
	}
	f.Add(seed(putCommune("00004", "Phường Ba Đình")))
	f.Add(seed(putProcedure(sample.Procedures()[0], -1), putCalendar(string(sample.CalendarJSON()))))
	f.Add(seed(appendEvents("00004", records(f, "00004", 1, 3)...)))
	f.Add(seed(&xasov1.CentralCommand{}, &xasov1.CentralCommand{Command: &xasov1.CentralCommand_PutProcedure{}}))
	f.Add([]byte{0xff, 0x01})
	fsm := openTestFSM(f)
	a := &applier{f: fsm}
	registerSample(f, a, "00004")
	index := a.index
	f.Fuzz(func(t *testing.T, data []byte) {
		index++
		res := fsm.Apply(&raft.Log{Index: index, Type: raft.LogCommand, Data: data})
		if _, ok := res.([]*xasov1.CommandResult); !ok {
			t.Fatalf("apply answered %T", res)
		}
	})
}

// FuzzRestore: a damaged snapshot is refused with an error, never a panic.
func FuzzRestore(f *testing.F) {
	src := openTestFSM(f)
	a := &applier{f: src}
	registerSample(f, a, "00004")
	var buf bytes.Buffer
	snap, _ := src.Snapshot()
	if err := snap.Persist(&bufferSink{Buffer: &buf}); err != nil {
		f.Fatal(err)
	}
	snap.Release()
	f.Add(buf.Bytes())
	f.Add([]byte(snapshotMagic))
	dst := openTestFSM(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		_ = dst.Restore(io.NopCloser(bytes.NewReader(data)))
	})
}

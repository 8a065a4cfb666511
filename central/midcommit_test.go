package central

import (
	"io"
	"log/slog"
	"testing"

	"github.com/hashicorp/raft"
	"google.golang.org/protobuf/proto"

	xasov1 "github.com/xaso/xaso/api/proto/xaso/v1"
	"github.com/xaso/xaso/sample"
)

// An entry that writes more than a transaction holds is applied in
// several (midCommit), and a member stopped between two of them (a crash,
// here a panic right after a commit inside the entry) applies the rest of
// the entry when the log replays it: its state ends as a member's that
// applied the entry in one go, the operator's command in it applied once.
func TestAnEntryCutByARestartIsAppliedOnce(t *testing.T) {
	// ~9 MB and ~39,000 writes, then an operator's command, then ~4 MB
	// more: commits inside the first command and inside the third.
	big := records(t, "00004", 21, 16000)
	more := records(t, "00008", 22, 8000)
	p := proto.Clone(sample.Procedures()[0]).(*xasov1.Procedure)
	p.Name += " (sửa đổi)"
	cmds := func() []*xasov1.CentralCommand {
		return []*xasov1.CentralCommand{appendEvents("00004", big...), putProcedure(p, 0), appendEvents("00008", more...)}
	}

	ref := &applier{f: openTestFSM(t)}
	registerSample(t, ref, "00004", "00008")
	commits := 0
	ref.f.midCommitted = func() { commits++ }
	for i, r := range ref.apply(t, cmds()...) {
		if r.GetCode() != 0 {
			t.Fatalf("command %d: %s", i, r.GetMessage())
		}
	}
	if commits < 3 {
		t.Fatalf("%d commits inside the entry; the test wants three or more", commits)
	}

	dir := t.TempDir()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	f, err := OpenFSM(dir, quiet)
	if err != nil {
		t.Fatal(err)
	}
	cut := &applier{f: f}
	registerSample(t, cut, "00004", "00008")
	crashed := 0
	f.midCommitted = func() {
		// The third commit is inside the third command: the operator's
		// command before it is in the state, and must not be applied again.
		if crashed++; crashed == 3 {
			panic("the member stops here")
		}
	}
	entry := cut.entry(t, cmds()...)
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("the entry was applied without a commit inside it")
			}
		}()
		f.ApplyBatch([]*raft.Log{entry})
	}()
	if got := f.AppliedIndex(); got != entry.Index-1 {
		t.Fatalf("applied index %d after the cut, want %d: the entry is not whole", got, entry.Index-1)
	}
	f.Close()

	// Restarted, the member is given the entry again by the log.
	f, err = OpenFSM(dir, quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.ApplyBatch([]*raft.Log{entry})
	if f.AppliedIndex() != entry.Index {
		t.Fatalf("applied index %d, want %d", f.AppliedIndex(), entry.Index)
	}
	got, want := dump(t, f), dump(t, ref.f)
	if _, ok := got[keyPartial]; ok {
		t.Fatal("the mark of the cut entry is still in the state")
	}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("key %q differs after the replay", k)
		}
	}
	if len(got) != len(want) {
		t.Fatalf("%d keys after the replay, %d applied in one go", len(got), len(want))
	}
	if cur, _ := f.Procedure(p.GetCode()); cur.GetVersion() != 2 {
		t.Fatalf("procedure at version %d after the replay, want 2 (its change applied once)", cur.GetVersion())
	}
}

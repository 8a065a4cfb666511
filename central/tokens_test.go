package central

import (
	"fmt"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/timestamppb"

	xasov1 "github.com/xaso/xaso/api/proto/xaso/v1"
)

func putToken(name string, role xasov1.OperatorRole, n int, first bool, expire time.Time) *xasov1.CentralCommand {
	tok := &xasov1.OperatorToken{Name: name, Role: role, SecretSha256: fmt.Sprintf("%064x", n)}
	if !expire.IsZero() {
		tok.ExpireTime = timestamppb.New(expire)
	}
	return &xasov1.CentralCommand{Command: &xasov1.CentralCommand_PutOperatorToken{PutOperatorToken: &xasov1.PutOperatorTokenCommand{Token: tok, First: first}}}
}

// The bootstrap token's command (first) makes the first token only, an
// OPERATOR's; once a token was made it is refused, even after every
// token is deleted. A token's expiry is after its making and within the
// longest life.
func TestFirstTokenOnceAndTokenExpiry(t *testing.T) {
	f := openTestFSM(t)
	a := &applier{f: f}
	op, viewer := xasov1.OperatorRole_OPERATOR_ROLE_OPERATOR, xasov1.OperatorRole_OPERATOR_ROLE_VIEWER
	later := testNow.Add(time.Hour)
	issued := func() bool {
		t.Helper()
		ok, err := f.TokenIssued()
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if issued() {
		t.Fatal("a new state says a token was made")
	}
	for _, c := range []struct {
		name  string
		cmd   *xasov1.CentralCommand
		code  codes.Code
		field string
	}{
		{"first token of a viewer", putToken("v", viewer, 1, true, later), codes.InvalidArgument, "token.role"},
		{"expiry before the making", putToken("x", op, 2, true, testNow.Add(-time.Second)), codes.InvalidArgument, "token.expire_time"},
		{"expiry beyond the longest life", putToken("x", op, 2, true, testNow.Add(MaxOperatorTokenTTL+time.Second)), codes.InvalidArgument, "token.expire_time"},
		{"the first token", putToken("admin", op, 3, true, later), codes.OK, ""},
		{"a second first token", putToken("admin2", op, 4, true, later), codes.Unauthenticated, ""},
		{"a secret in use", putToken("other", viewer, 3, false, later), codes.InvalidArgument, "token.secret_sha256"},
		{"a token an operator makes", putToken("bao-cao", viewer, 5, false, later), codes.OK, ""},
	} {
		res := a.apply(t, c.cmd)[0]
		if codes.Code(res.GetCode()) != c.code {
			t.Fatalf("%s: %v %s, want %v", c.name, codes.Code(res.GetCode()), res.GetMessage(), c.code)
		}
		if c.field != "" && (len(res.GetViolations()) != 1 || res.GetViolations()[0].GetField() != c.field) {
			t.Fatalf("%s: violations %v, want %s", c.name, res.GetViolations(), c.field)
		}
	}
	if !issued() {
		t.Fatal("after the first token the state does not say a token was made")
	}
	for _, name := range []string{"admin", "bao-cao"} {
		if res := a.apply(t, &xasov1.CentralCommand{Command: &xasov1.CentralCommand_DeleteOperatorToken{DeleteOperatorToken: &xasov1.DeleteOperatorTokenCommand{Name: name}}})[0]; res.GetCode() != 0 {
			t.Fatal(res.GetMessage())
		}
	}
	if ts, _ := f.Tokens(); len(ts) != 0 || !issued() {
		t.Fatalf("every token deleted: %d left, issued %v; want 0 and true", len(ts), issued())
	}
	if res := a.apply(t, putToken("again", op, 6, true, later))[0]; codes.Code(res.GetCode()) != codes.Unauthenticated {
		t.Fatalf("a first token after every token was deleted: %v %s", codes.Code(res.GetCode()), res.GetMessage())
	}
}

// A token made before tokens expired lives MaxOperatorTokenTTL from its
// making.
func TestTokenExpiryOfAnOldToken(t *testing.T) {
	made := time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC)
	old := &xasov1.OperatorToken{CreateTime: timestamppb.New(made)}
	if got := tokenExpiry(old); !got.Equal(made.Add(MaxOperatorTokenTTL)) {
		t.Fatalf("old token expires %v", got)
	}
	exp := made.Add(48 * time.Hour)
	if got := tokenExpiry(&xasov1.OperatorToken{CreateTime: timestamppb.New(made), ExpireTime: timestamppb.New(exp)}); !got.Equal(exp) {
		t.Fatalf("token expires %v, want %v", got, exp)
	}
}

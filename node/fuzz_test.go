package node

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	xasov1 "github.com/xaso/xaso/api/proto/xaso/v1"
	"github.com/xaso/xaso/dossier"
)

// FuzzREST sends arbitrary bodies to the REST API: the answer is never a
// 5xx and never a panic, and the store's invariants hold.
func FuzzREST(f *testing.F) {
	f.Add("POST", "/v1/dossiers", []byte(`{"procedure_code":"1.001193","applicant":{"full_name":"A"},"channel":"CHANNEL_ONLINE","components":[{"code":"TK","paper":true},{"code":"GCS","paper":true}]}`))
	f.Add("POST", "/v1/dossiers/09619-261123-0001:transition", []byte(`{"action":"ACTION_ASSIGN","assignee":"b"}`))
	f.Add("POST", "/v1/dossiers/09619-261123-0001:transition", []byte(`{"action":"ACTION_APOLOGIZE","reason":"r","appointment_time":"9999-12-31T23:59:59Z"}`))
	f.Add("GET", "/v1/dossiers?filter=due_time%3C%3D2026-01-01%20AND%20state%3DRECEIVED&page_size=3", []byte(nil))
	f.Add("POST", "/v1/attachments", []byte(`{"filename":"a.pdf","content_type":"application/pdf","content":"JVBERi0xLjcK"}`))
	f.Add("GET", "/v1/procedures?query=%C4%91%C4%83ng&page_token=-5", []byte(nil))
	n := startNode(f)
	h, err := n.handler()
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, method, path string, body []byte) {
		if method != "GET" && method != "POST" {
			method = "POST"
		}
		if len(path) == 0 || path[0] != '/' {
			path = "/v1/dossiers/" + path
		}
		req, err := http.NewRequest(method, "http://localhost"+path, bytes.NewReader(body))
		if err != nil {
			return
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+n.tokens[xasov1.Role_ROLE_CLERK])
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s %s %q: %d %s", method, path, body, rec.Code, rec.Body)
		}
	})
}

func FuzzParseFilter(f *testing.F) {
	f.Add(`state = IN_PROCESSING AND due_time < "2026-12-01T00:00:00+07:00"`)
	f.Add("overdue = true")
	f.Add("received_time >= 2026-11-01 AND received_time < 2026-12-01 AND applicant_id_number = 001190012345")
	now := time.Date(2026, 11, 23, 9, 0, 0, 0, dossier.Zone)
	f.Fuzz(func(t *testing.T, s string) {
		flt, err := ParseFilter(s)
		if err != nil {
			return
		}
		flt.match(&dossier.Dossier{}, now)
	})
}

package vietqr

import (
	"errors"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
)

// published are payloads published by others with the transfer each
// encodes; the builder must reproduce them byte for byte and the parser
// must read them back.
var published = []struct {
	source  string
	payload string
	want    Transfer
}{
	{
		// github.com/subiz/vietqr, README.md: 120.000 đ to VietinBank
		// (970415) account 0011001932418, "ủng hộ lũ lụt" written
		// without diacritics.
		"subiz/vietqr README.md",
		"00020101021238570010A00000072701270006970415011300110019324180208QRIBFTTA530370454061200005802VN62170813ung ho lu lut6304C15C",
		Transfer{BIN: "970415", Account: "0011001932418", Amount: 120000, Purpose: "ung ho lu lut"},
	},
	{
		// github.com/subiz/vietqr, vietqr_test.go TestQR: a dynamic code
		// with an amount and a purpose.
		"subiz/vietqr vietqr_test.go",
		"00020101021238570010A00000072701270006970422011300234579234420208QRIBFTTA53037045405401235802VN62200816test text string6304D9C6",
		Transfer{BIN: "970422", Account: "0023457923442", Amount: 40123, Purpose: "test text string"},
	},
	{
		// github.com/subiz/vietqr, vietqr_test.go TestQR: a static code,
		// no amount, no purpose.
		"subiz/vietqr vietqr_test.go (static)",
		"00020101021138540010A00000072701240006970423011000999999990208QRIBFTTA53037045802VN6304CBB4",
		Transfer{BIN: "970423", Account: "0099999999"},
	},
	{
		// github.com/sunary/vietqr, vietqr_test.go validQRCodeWithAmount.
		"sunary/vietqr vietqr_test.go (amount)",
		"00020101021238490010A000000727011900069704160105135790208QRIBFTTA530370454061200005802VN63049A71",
		Transfer{BIN: "970416", Account: "13579", Amount: 120000},
	},
	{
		// github.com/sunary/vietqr, vietqr_test.go validQRCodeFull.
		"sunary/vietqr vietqr_test.go (full)",
		"00020101021238490010A000000727011900069704320105193720208QRIBFTTA530370454061520005802VN62200816gen by go-vietqr63040ED4",
		Transfer{BIN: "970432", Account: "19372", Amount: 152000, Purpose: "gen by go-vietqr"},
	},
}

func TestPublishedExamples(t *testing.T) {
	for _, tc := range published {
		t.Run(tc.source, func(t *testing.T) {
			got, err := tc.want.Payload()
			if err != nil || got != tc.payload {
				t.Fatalf("Payload() = %q, %v\nwant          %q", got, err, tc.payload)
			}
			back, err := Parse(tc.payload)
			if err != nil || back != tc.want {
				t.Fatalf("Parse = %+v, %v; want %+v", back, err, tc.want)
			}
		})
	}
}

func TestCRC16CheckValue(t *testing.T) {
	// The catalogue check value of CRC-16/CCITT-FALSE.
	if got := CRC16("123456789"); got != 0x29B1 {
		t.Fatalf("CRC16(123456789) = %04X, want 29B1", got)
	}
}

// TestTransferRules: each field's rule, the field named in the error.
func TestTransferRules(t *testing.T) {
	ok := Transfer{BIN: "970405", Account: "3600205123456", Amount: 50000, Purpose: "000.00.31.H56-251201-0001"}
	cases := []struct {
		name   string
		change func(*Transfer)
		field  string // "" when valid
	}{
		{"a dossier code as purpose", func(*Transfer) {}, ""},
		{"no purpose", func(t *Transfer) { t.Purpose = "" }, ""},
		{"static, no amount", func(t *Transfer) { t.Amount = 0 }, ""},
		{"13-digit amount", func(t *Transfer) { t.Amount = MaxAmount }, ""},
		{"19-character account", func(t *Transfer) { t.Account = "VQRQACLNP2680123456" }, ""},
		{"BIN of 5 digits", func(t *Transfer) { t.BIN = "97040" }, "bin"},
		{"BIN of 7 digits", func(t *Transfer) { t.BIN = "9704050" }, "bin"},
		{"BIN with a letter", func(t *Transfer) { t.BIN = "97040A" }, "bin"},
		{"no account", func(t *Transfer) { t.Account = "" }, "account"},
		{"20-character account", func(t *Transfer) { t.Account = "12345678901234567890" }, "account"},
		{"account with a hyphen", func(t *Transfer) { t.Account = "3600-205" }, "account"},
		{"account with a space", func(t *Transfer) { t.Account = "3600 205" }, "account"},
		{"negative amount", func(t *Transfer) { t.Amount = -1 }, "amount"},
		{"14-digit amount", func(t *Transfer) { t.Amount = MaxAmount + 1 }, "amount"},
		{"26-character purpose", func(t *Transfer) { t.Purpose = strings.Repeat("A", 26) }, "purpose"},
		{"purpose with diacritics", func(t *Transfer) { t.Purpose = "Lệ phí" }, "purpose"},
		{"purpose with đ", func(t *Transfer) { t.Purpose = "do dat" + "đ" }, "purpose"},
		{"purpose with a slash", func(t *Transfer) { t.Purpose = "HS 1/2" }, "purpose"},
		{"purpose with a newline", func(t *Transfer) { t.Purpose = "HS\n1" }, "purpose"},
		{"purpose ending with a space", func(t *Transfer) { t.Purpose = "HS 1 " }, "purpose"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tr := ok
			tc.change(&tr)
			p, err := tr.Payload()
			if tc.field == "" {
				if err != nil {
					t.Fatalf("Payload: %v", err)
				}
				if back, err := Parse(p); err != nil || back != tr {
					t.Fatalf("Parse(%q) = %+v, %v", p, back, err)
				}
				return
			}
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != tc.field {
				t.Fatalf("Payload() error %v, want one naming %q", err, tc.field)
			}
		})
	}
}

func TestFold(t *testing.T) {
	for in, want := range map[string]string{
		"Lệ phí hộ tịch":   "Le phi ho tich",
		"ĐĂNG KÝ ĐẤT ĐAI":  "DANG KY DAT DAI",
		"ủng hộ lũ lụt":    "ung ho lu lut",
		"Nguyễn Thị Hường": "Nguyen Thi Huong",
	} {
		got := Fold(in)
		if got != want || CheckPurpose(got) != nil {
			t.Errorf("Fold(%q) = %q (%v), want %q", in, got, CheckPurpose(got), want)
		}
	}
}

// randomTransfer draws a valid transfer.
func randomTransfer(rng *rand.Rand) Transfer {
	const an = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	const pc = an + " .-"
	pick := func(set string, n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = set[rng.IntN(len(set))]
		}
		return string(b)
	}
	t := Transfer{BIN: pick("0123456789", 6), Account: pick(an, 1+rng.IntN(MaxAccountLen))}
	if rng.IntN(4) > 0 {
		t.Amount = 1 + rng.Int64N(MaxAmount)
		if rng.IntN(2) == 0 {
			t.Amount = 1 + rng.Int64N(10_000_000)
		}
	}
	if rng.IntN(4) > 0 {
		t.Purpose = strings.TrimSpace(pick(pc, 1+rng.IntN(MaxPurposeLen)))
	}
	return t
}

// TestPayloadProperties: on random transfers every data object's length
// is right, the CRC verifies, the payload reads back to the transfer, and
// any single changed byte is refused.
func TestPayloadProperties(t *testing.T) {
	rng := rand.New(rand.NewPCG(18, 4))
	for i := range 300 {
		tr := randomTransfer(rng)
		p, err := tr.Payload()
		if err != nil {
			t.Fatalf("Payload(%+v): %v", tr, err)
		}
		checkLengths(t, p, 0)
		if got := strconv.FormatUint(uint64(CRC16(p[:len(p)-4])), 16); !strings.EqualFold(strings.Repeat("0", 4-len(got))+got, p[len(p)-4:]) {
			t.Fatalf("%q: CRC %s", p, got)
		}
		back, err := Parse(p)
		if err != nil || back != tr {
			t.Fatalf("Parse(%q) = %+v, %v; want %+v", p, back, err, tr)
		}
		if i%10 != 0 {
			continue
		}
		for pos := range len(p) {
			for _, c := range []byte{'0', '1', '9', 'A', 'a', 'F', 'f', 'Z', ' ', '.', p[pos] ^ 1, p[pos] + 1} {
				if c == p[pos] {
					continue
				}
				bad := p[:pos] + string(c) + p[pos+1:]
				if _, err := Parse(bad); err == nil {
					t.Fatalf("Parse took %q, %q with byte %d changed to %q", bad, p, pos, c)
				}
			}
		}
	}
}

// checkLengths walks the data objects of s (and of the templates 38,
// 38/01 and 62) checking that each length is the value's.
func checkLengths(t *testing.T, s string, depth int) {
	t.Helper()
	for i := 0; i < len(s); {
		id := s[i : i+2]
		l, err := strconv.Atoi(s[i+2 : i+4])
		if err != nil || i+4+l > len(s) {
			t.Fatalf("%q: object %s at %d: length %q", s, id, i, s[i+2:i+4])
		}
		v := s[i+4 : i+4+l]
		if depth == 0 && (id == "38" || id == "62") || depth == 1 && id == "01" && strings.HasPrefix(s, "0010"+GUID) {
			checkLengths(t, v, depth+1)
		}
		i += 4 + l
	}
}

// TestParseRefuses: payloads that are not a VietQR transfer to an account,
// each with a valid CRC so that the structural check is the one firing.
func TestParseRefuses(t *testing.T) {
	withCRC := func(body string) string {
		body += "6304"
		return body + strings.ToUpper(strconv.FormatUint(uint64(CRC16(body))|0x10000, 16)[1:])
	}
	cases := []struct {
		name, payload, field string
	}{
		{"lower-case CRC", "00020101021138540010A00000072701240006970422011099999991480208QRIBFTTA53037045802VN63047b49", "63"},
		{"no CRC", "00020101021138540010A00000072701240006970423011000999999990208QRIBFTTA53037045802VN", "63"},
		{"not first 00", withCRC("010211000201"), "00"},
		{"format indicator 00", withCRC("00020001021138540010A00000072701240006970423011000999999990208QRIBFTTA53037045802VN"), "00"},
		{"card transfer", withCRC("00020101021138540010A00000072701240006970423011000999999990208QRIBFTTC53037045802VN"), "38/02"},
		{"another GUID", withCRC("00020101021138540010A00000077501240006970423011000999999990208QRIBFTTA53037045802VN"), "38/00"},
		{"dollars", withCRC("00020101021138540010A00000072701240006970423011000999999990208QRIBFTTA53038405802VN"), "53"},
		{"amount with a decimal point", withCRC("00020101021238540010A00000072701240006970423011000999999990208QRIBFTTA5303704540510.005802VN"), "54"},
		{"amount with a leading zero", withCRC("00020101021238540010A00000072701240006970423011000999999990208QRIBFTTA53037045405012005802VN"), "54"},
		{"dynamic without amount", withCRC("00020101021238540010A00000072701240006970423011000999999990208QRIBFTTA53037045802VN"), "01"},
		{"length past the end", withCRC("00020101021138990010A000000727"), "38"},
		{"an object twice", withCRC("00020101021101021138540010A00000072701240006970423011000999999990208QRIBFTTA53037045802VN"), "01"},
		{"BIN of 5 digits", withCRC("00020101021138530010A0000007270123" + "000597042" + "01100099999999" + "0208QRIBFTTA" + "53037045802VN"), "bin"},
		{"purpose with diacritics", withCRC("00020101021138540010A00000072701240006970423011000999999990208QRIBFTTA53037045802VN62080804L\u1ec7"), "purpose"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(tc.payload)
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != tc.field {
				t.Fatalf("Parse(%q) error %v, want one naming %q", tc.payload, err, tc.field)
			}
		})
	}
	if _, err := Parse(published[0].payload[:len(published[0].payload)-1] + "D"); !errors.Is(err, ErrCRC) {
		t.Fatalf("a wrong CRC: %v, want ErrCRC", err)
	}
}

func FuzzParse(f *testing.F) {
	for _, p := range published {
		f.Add(p.payload)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tr, err := Parse(s)
		if err != nil {
			return
		}
		p, err := tr.Payload()
		if err != nil {
			t.Fatalf("Parse(%q) = %+v, which does not build: %v", s, tr, err)
		}
		if back, err := Parse(p); err != nil || back != tr {
			t.Fatalf("round trip of %+v: %+v, %v", tr, back, err)
		}
	})
}

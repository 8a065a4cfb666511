// Package vietqr builds and reads the payload of a VietQR code: the EMVCo
// merchant-presented QR format as NAPAS profiles it for a 24/7 interbank
// transfer to an account (NAPAS 247), the code every Vietnamese banking app
// scans. It is pure: no I/O, no clock.
//
// A payload is a run of data objects, each an ID of two digits, a length of
// two digits and that many characters of value. The objects this package
// writes, in this order, and what it reads back:
//
//	00 payload format indicator  "01"
//	01 point of initiation       "12" dynamic (with an amount), "11" static
//	38 merchant account information (template)
//	   00 GUID                   "A000000727" (NAPAS)
//	   01 beneficiary (template)
//	      00 the bank's BIN      6 digits
//	      01 account number      1 to 19 letters or digits
//	   02 service code           "QRIBFTTA" (transfer to an account)
//	53 transaction currency      "704" (VND, ISO 4217)
//	54 transaction amount        whole đồng, 1 to 13 digits (dynamic only)
//	58 country code              "VN"
//	62 additional data (template, only with a purpose)
//	   08 purpose of transaction 1 to 25 characters (the reference)
//	63 CRC                       4 upper-case hex digits
//
// The CRC is CRC-16/CCITT-FALSE (polynomial 0x1021, initial value 0xFFFF,
// no reflection, no final XOR) over the whole payload up to and including
// "6304", the CRC object's ID and length.
//
// The reference (purpose) is limited to what banking apps carry into a
// transfer's content unchanged: ASCII letters, digits, space, '.' and '-'
// (the punctuation of dossier codes). Text with Vietnamese diacritics is
// refused, not altered; Fold strips them for a caller that wants plain
// text. Some banks drop punctuation from the content they show, so a
// payment should be matched to its reference on letters and digits.
package vietqr

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Fixed values of the VietQR profile.
const (
	// GUID identifies NAPAS in the merchant account information (38/00).
	GUID = "A000000727"
	// ServiceAccount is the service code of a transfer to an account
	// (38/02); QRIBFTTC, to a card, is not written by this package.
	ServiceAccount = "QRIBFTTA"
	// CurrencyVND is ISO 4217's numeric code of the đồng (53).
	CurrencyVND = "704"
	// CountryVN is the country code (58).
	CountryVN = "VN"
)

// Bounds of the values.
const (
	// MaxAccountLen is the longest account number (38/01/01).
	MaxAccountLen = 19
	// MaxAmount is the largest amount in đồng: 13 digits (54).
	MaxAmount = 9_999_999_999_999
	// MaxPurposeLen is the longest purpose of transaction (62/08).
	MaxPurposeLen = 25
)

// Transfer is what a VietQR code asks a banking app to do: pay Amount
// đồng to the account Account at the bank whose BIN is BIN, with Purpose
// as the transfer's content.
type Transfer struct {
	// BIN is the beneficiary bank's 6-digit bank identification number
	// as NAPAS lists it, e.g. "970405" (Agribank).
	BIN string
	// Account is the beneficiary's account number.
	Account string
	// Amount is the whole amount in đồng; 0 makes a static code, in
	// which the payer types the amount.
	Amount int64
	// Purpose is the transfer's content (the payment's reference);
	// empty for none.
	Purpose string
}

// FieldError is a value that does not fit the format, naming its field:
// "bin", "account", "amount" or "purpose" for a Transfer, or the data
// object ("38/01/00", "63", …) for a payload.
type FieldError struct {
	Field, Problem string
}

// Error says which field is wrong and why.
func (e *FieldError) Error() string { return "vietqr: " + e.Field + ": " + e.Problem }

func fieldErr(field, format string, args ...any) error {
	return &FieldError{Field: field, Problem: fmt.Sprintf(format, args...)}
}

// ErrCRC is the error of a payload whose CRC (four upper-case hex digits)
// does not match its content.
var ErrCRC error = &FieldError{Field: "63", Problem: "the CRC does not match the payload"}

// Check checks every field of t against the format.
func (t Transfer) Check() error {
	if len(t.BIN) != 6 || !digits(t.BIN) {
		return fieldErr("bin", "%q is not 6 digits", short(t.BIN))
	}
	if t.Account == "" || len(t.Account) > MaxAccountLen || !alnum(t.Account) {
		return fieldErr("account", "%q is not 1 to %d ASCII letters or digits", short(t.Account), MaxAccountLen)
	}
	if t.Amount < 0 || t.Amount > MaxAmount {
		return fieldErr("amount", "%d is outside 1 to %d đồng (0: no amount)", t.Amount, int64(MaxAmount))
	}
	return CheckPurpose(t.Purpose)
}

// CheckPurpose checks a reference: at most 25 characters, each an ASCII
// letter, a digit, a space, '.' or '-', not starting or ending with a
// space. Vietnamese letters with diacritics (and đ) are refused: see Fold.
func CheckPurpose(s string) error {
	if len(s) > MaxPurposeLen {
		return fieldErr("purpose", "%q is longer than %d characters", short(s), MaxPurposeLen)
	}
	for _, r := range s {
		if !purposeRune(r) {
			if r > unicode.MaxASCII && unicode.IsLetter(r) {
				return fieldErr("purpose", "%q has the letter %q: write it without diacritics", short(s), r)
			}
			return fieldErr("purpose", "%q has %q: only letters A-Z, digits, space, '.' and '-'", short(s), r)
		}
	}
	if strings.TrimSpace(s) != s {
		return fieldErr("purpose", "%q begins or ends with a space", short(s))
	}
	return nil
}

func purposeRune(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == ' ' || r == '.' || r == '-'
}

// Fold writes Vietnamese text without diacritics, the way transfer
// contents are written: "Lệ phí hộ tịch" becomes "Le phi ho tich", đ and Đ
// become d and D. Characters CheckPurpose refuses for other reasons stay.
func Fold(s string) string {
	var b strings.Builder
	for _, r := range norm.NFD.String(s) {
		switch {
		case unicode.Is(unicode.Mn, r):
			continue
		case r == 'đ':
			r = 'd'
		case r == 'Đ':
			r = 'D'
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Payload returns t's VietQR payload, or a FieldError for a field that
// does not fit.
func (t Transfer) Payload() (string, error) {
	if err := t.Check(); err != nil {
		return "", err
	}
	var b strings.Builder
	tlv(&b, "00", "01")
	if t.Amount > 0 {
		tlv(&b, "01", "12")
	} else {
		tlv(&b, "01", "11")
	}
	var bene, mai strings.Builder
	tlv(&bene, "00", t.BIN)
	tlv(&bene, "01", t.Account)
	tlv(&mai, "00", GUID)
	tlv(&mai, "01", bene.String())
	tlv(&mai, "02", ServiceAccount)
	tlv(&b, "38", mai.String())
	tlv(&b, "53", CurrencyVND)
	if t.Amount > 0 {
		tlv(&b, "54", strconv.FormatInt(t.Amount, 10))
	}
	tlv(&b, "58", CountryVN)
	if t.Purpose != "" {
		var add strings.Builder
		tlv(&add, "08", t.Purpose)
		tlv(&b, "62", add.String())
	}
	b.WriteString("6304")
	fmt.Fprintf(&b, "%04X", CRC16(b.String()))
	return b.String(), nil
}

// tlv writes one data object; the callers keep values within 99 bytes.
func tlv(b *strings.Builder, id, value string) {
	fmt.Fprintf(b, "%s%02d%s", id, len(value), value)
}

// CRC16 is CRC-16/CCITT-FALSE of s: polynomial 0x1021, initial value
// 0xFFFF, no reflection, no final XOR ("123456789" gives 0x29B1).
func CRC16(s string) uint16 {
	crc := uint16(0xFFFF)
	for i := range len(s) {
		crc ^= uint16(s[i]) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return crc
}

// MaxPayloadLen bounds what Parse reads: a QR code holds at most a few
// thousand characters, a VietQR payload under 200.
const MaxPayloadLen = 512

// Parse reads a VietQR payload of a transfer to an account: it checks the
// CRC first (ErrCRC), then the structure (every length, no ID twice, 00
// first and 63 last), the fixed values and the Transfer's fields, and
// returns the Transfer. Data objects it does not know (a merchant's name,
// city, category…) are skipped.
func Parse(payload string) (Transfer, error) {
	var t Transfer
	if len(payload) > MaxPayloadLen {
		return t, fieldErr("payload", "longer than %d characters", MaxPayloadLen)
	}
	n := len(payload)
	if n < 8 || payload[n-8:n-4] != "6304" {
		return t, fieldErr("63", "the payload does not end with the CRC object 6304XXXX")
	}
	want := payload[n-4:]
	if fmt.Sprintf("%04X", CRC16(payload[:n-4])) != want {
		return t, ErrCRC
	}
	root, err := objects(payload[:n-8], "")
	if err != nil {
		return t, err
	}
	if len(root) == 0 || root[0].id != "00" || root[0].value != "01" {
		return t, fieldErr("00", "the payload does not begin with the format indicator 000201")
	}
	get := func(list []object, id string) (string, bool) {
		for _, o := range list {
			if o.id == id {
				return o.value, true
			}
		}
		return "", false
	}
	poi, hasPOI := get(root, "01")
	if hasPOI && poi != "11" && poi != "12" {
		return t, fieldErr("01", "%q is not 11 (static) or 12 (dynamic)", poi)
	}
	mai, ok := get(root, "38")
	if !ok {
		return t, fieldErr("38", "no NAPAS merchant account information")
	}
	mo, err := objects(mai, "38/")
	if err != nil {
		return t, err
	}
	if g, _ := get(mo, "00"); g != GUID {
		return t, fieldErr("38/00", "%q is not NAPAS's %s", short(g), GUID)
	}
	if s, _ := get(mo, "02"); s != ServiceAccount {
		return t, fieldErr("38/02", "%q is not the service %s (transfer to an account)", short(s), ServiceAccount)
	}
	bene, ok := get(mo, "01")
	if !ok {
		return t, fieldErr("38/01", "no beneficiary")
	}
	bo, err := objects(bene, "38/01/")
	if err != nil {
		return t, err
	}
	t.BIN, _ = get(bo, "00")
	t.Account, _ = get(bo, "01")
	if c, _ := get(root, "53"); c != CurrencyVND {
		return t, fieldErr("53", "%q is not %s (VND)", short(c), CurrencyVND)
	}
	if c, _ := get(root, "58"); c != CountryVN {
		return t, fieldErr("58", "%q is not %s", short(c), CountryVN)
	}
	if a, ok := get(root, "54"); ok {
		if a == "" || len(a) > 13 || !digits(a) || a[0] == '0' {
			return t, fieldErr("54", "%q is not a whole amount of đồng", short(a))
		}
		t.Amount, _ = strconv.ParseInt(a, 10, 64)
	}
	if hasPOI && (poi == "12") != (t.Amount > 0) {
		return t, fieldErr("01", "%q does not fit a payload %s an amount", poi, map[bool]string{true: "with", false: "without"}[t.Amount > 0])
	}
	if add, ok := get(root, "62"); ok {
		ao, err := objects(add, "62/")
		if err != nil {
			return t, err
		}
		t.Purpose, _ = get(ao, "08")
	}
	if err := t.Check(); err != nil {
		return t, err
	}
	return t, nil
}

type object struct{ id, value string }

// objects splits s into data objects, checking each ID and length and that
// no ID comes twice; prefix names the template in errors.
func objects(s, prefix string) ([]object, error) {
	var list []object
	seen := map[string]bool{}
	for i := 0; i < len(s); {
		if len(s)-i < 4 || !digits(s[i:i+4]) {
			return nil, fieldErr(prefix+"payload", "a data object at character %d has no 2-digit ID and length", i)
		}
		id := s[i : i+2]
		l, _ := strconv.Atoi(s[i+2 : i+4])
		if l == 0 || i+4+l > len(s) {
			return nil, fieldErr(prefix+id, "length %d does not fit the payload", l)
		}
		if seen[id] {
			return nil, fieldErr(prefix+id, "comes twice")
		}
		seen[id] = true
		list = append(list, object{id, s[i+4 : i+4+l]})
		i += 4 + l
	}
	return list, nil
}

func digits(s string) bool {
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

func alnum(s string) bool {
	for i := range len(s) {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z') {
			return false
		}
	}
	return true
}

// short quotes at most 40 bytes of s in errors.
func short(s string) string {
	if len(s) <= 40 {
		return s
	}
	n := 40
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

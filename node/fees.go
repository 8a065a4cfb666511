package node

import (
	"strconv"
	"strings"

	"github.com/xaso/xaso/dossier"
	"github.com/xaso/xaso/vietqr"
)

// feeView is what the receipt and the look-up page show of a dossier's
// fee: the amount and, when the commune has a fee account (Config
// FeeBankBIN…), a VietQR code asking for exactly that amount into it with
// the dossier's reference as the transfer's content. Paying and recording
// the payment are not handled here.
type feeView struct {
	// Amount is the fee in đồng (the procedure's fee the dossier was
	// received with).
	Amount int64
	// AmountText is Amount written the Vietnamese way: "50.000 đồng".
	AmountText string
	// BIN, Account and AccountName are the fee account; empty when the
	// commune has none (the fee is then paid at the desk).
	BIN, Account, AccountName string
	// Reference is the transfer's content: the dossier's code, or the
	// code without its '.' and '-' when the code is longer than a
	// transfer's content may be.
	Reference string
	// Payload is the VietQR payload the QR code draws; empty without an
	// account.
	Payload string
}

// feeOf returns the fee view of d, nil when d has no fee.
func (n *Node) feeOf(d *dossier.Dossier) *feeView {
	if d.GetFeeVnd() <= 0 {
		return nil
	}
	f := &feeView{Amount: d.GetFeeVnd(), AmountText: formatVND(d.GetFeeVnd())}
	if n.cfg.FeeBankBIN == "" {
		return f
	}
	ref, ok := feeReference(d.GetCode())
	if !ok {
		n.log.Warn("no VietQR code for a fee: the dossier's code is too long for a transfer's content", "code", d.GetCode())
		return f
	}
	payload, err := vietqr.Transfer{BIN: n.cfg.FeeBankBIN, Account: n.cfg.FeeAccountNumber, Amount: f.Amount, Purpose: ref}.Payload()
	if err != nil {
		// The account is checked at start and the reference above: only
		// a fee beyond 13 digits gets here. It is then paid at the desk.
		n.log.Warn("no VietQR code for a fee", "code", d.GetCode(), "fee_vnd", f.Amount, "err", err)
		return f
	}
	f.BIN, f.Account, f.AccountName = n.cfg.FeeBankBIN, n.cfg.FeeAccountNumber, n.cfg.FeeAccountName
	f.Reference, f.Payload = ref, payload
	return f
}

// feeReference is the transfer content that names a dossier: its code
// when it fits (at most 25 characters), else the code without '.' and '-'
// (a shared-agency code under a long e-ID), which still names it when a
// payment is matched on letters and digits, as banks may drop punctuation
// anyway. ok is false when even that is too long: no QR code then.
func feeReference(code string) (ref string, ok bool) {
	if vietqr.CheckPurpose(code) == nil {
		return code, true
	}
	compact := strings.NewReplacer(".", "", "-", "").Replace(code)
	return compact, vietqr.CheckPurpose(compact) == nil
}

// formatVND writes an amount of đồng with dots between thousands:
// 1500000 → "1.500.000 đồng".
func formatVND(v int64) string {
	s := strconv.FormatInt(v, 10)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte('.')
		}
		b.WriteRune(c)
	}
	return b.String() + " đồng"
}

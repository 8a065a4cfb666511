// Package portal holds the message shapes the National Public Service
// Portal (Cổng Dịch vụ công quốc gia) exchanges with a province's dossier
// system, as provincial systems use them: the dossier sync (DongBoHoSoMC),
// the progress step (CapNhatTienDoHoSoMC), the status catalogue 1–10 and
// the yyyyMMddHHmmss time in Asia/Ho_Chi_Minh. The portal's official
// specification is issued to provinces and not published: the field names
// here follow open provincial code (see docs/portal.md), and what they
// leave open is guessed and marked so. The package is pure: no I/O.
package portal

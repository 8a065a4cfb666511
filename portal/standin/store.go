package standin

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/xaso/xaso/portal"
)

// Dossier is an online dossier a citizen filed on the stand-in, as the
// province's connector pulls it.
type Dossier struct {
	// Seq orders the dossiers filed on the stand-in, from 1; the
	// connector's cursor (after=Seq).
	Seq int64 `json:"Seq"`
	// MaHoSo is the portal's code for the dossier.
	MaHoSo       string `json:"MaHoSo"`
	MaTTHC       string `json:"MaTTHC"`
	TenTTHC      string `json:"TenTTHC"`
	ChuHoSo      string `json:"ChuHoSo"`
	LoaiDoiTuong string `json:"LoaiDoiTuong"`
	// SoDinhDanh is the applicant's personal identification number.
	SoDinhDanh  string `json:"SoDinhDanh"`
	SoDienThoai string `json:"SoDienThoai"`
	// MaTinh and MaXa are the province's and the commune's unit codes; the
	// dossier is the commune's to receive.
	MaTinh string `json:"MaTinh"`
	MaXa   string `json:"MaXa"`
	TenXa  string `json:"TenXa"`
	// NgayNopHoSo is when the citizen filed it.
	NgayNopHoSo portal.Time `json:"NgayNopHoSo"`
	// TaiLieuNop are the scans, one per component filed.
	TaiLieuNop []File `json:"TaiLieuNop"`
}

// File is one scan filed with a dossier; DuongDanTaiTepTin is where the
// connector fetches it (with its token).
type File struct {
	portal.Document
	TenThanhPhan string `json:"TenThanhPhan"`
	LoaiTep      string `json:"LoaiTep"`
	KichThuoc    int64  `json:"KichThuoc"`
	SHA256       string `json:"SHA256"`
}

// StatusEntry is one status the stand-in received for a dossier.
type StatusEntry struct {
	TrangThaiHoSo portal.Status `json:"TrangThaiHoSo"`
	TenTrangThai  string        `json:"TenTrangThai"`
	MessageId     string        `json:"MessageId"`
	NhanLuc       portal.Time   `json:"NhanLuc"`
}

// record is one line of the journal.
type record struct {
	Kind      string              `json:"kind"` // filed, ack, sync, progress
	At        time.Time           `json:"at"`
	Code      string              `json:"code"`
	MessageID string              `json:"message_id,omitempty"`
	Sum       string              `json:"sum,omitempty"`
	Dossier   *Dossier            `json:"dossier,omitempty"`
	Sync      *portal.DossierSync `json:"sync,omitempty"`
	Progress  *portal.Progress    `json:"progress,omitempty"`
}

// dossierState is what the stand-in knows of one dossier.
type dossierState struct {
	d        Dossier
	acked    bool
	status   portal.Status
	last     *portal.DossierSync
	statuses []StatusEntry
	progress []portal.Progress
}

// store keeps the stand-in's state in memory and every change in an
// append-only journal of JSON lines (DIR/journal.jsonl, synced on each
// line), replayed at start; scans are files beside it (DIR/files).
type store struct {
	dir string
	mu  sync.Mutex
	f   *os.File
	seq int64
	// byCode holds every dossier; order lists their codes as filed.
	byCode map[string]*dossierState
	order  []string
	// msgs maps each message id kept to the sum of its message.
	msgs map[string]string
	// filed is closed and replaced at each filing (long-poll wake-up).
	filed chan struct{}
}

const journalName = "journal.jsonl"

// openStore opens (or creates) the store in dir and replays its journal.
// A last line cut short by a crash is dropped.
func openStore(dir string) (*store, error) {
	if err := os.MkdirAll(filepath.Join(dir, "files"), 0o700); err != nil {
		return nil, fmt.Errorf("portal stand-in: making data directory: %w", err)
	}
	s := &store{dir: dir, byCode: map[string]*dossierState{}, msgs: map[string]string{}, filed: make(chan struct{})}
	path := filepath.Join(dir, journalName)
	data, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("portal stand-in: reading journal: %w", err)
	}
	// good is the length of the journal's whole lines; a line without
	// its newline was cut short by a crash, and its writer was not told
	// it was kept.
	good := 0
	for line := 1; good < len(data); line++ {
		i := bytes.IndexByte(data[good:], '\n')
		if i < 0 {
			break
		}
		var r record
		if err := json.Unmarshal(data[good:good+i], &r); err != nil {
			return nil, fmt.Errorf("portal stand-in: journal line %d: %w", line, err)
		}
		if err := s.apply(r); err != nil {
			return nil, fmt.Errorf("portal stand-in: journal line %d: %w", line, err)
		}
		good += i + 1
	}
	if good < len(data) {
		if err := os.Truncate(path, int64(good)); err != nil {
			return nil, fmt.Errorf("portal stand-in: dropping a cut line: %w", err)
		}
	}
	s.f, err = os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("portal stand-in: opening journal: %w", err)
	}
	return s, nil
}

// Close closes the journal.
func (s *store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.f.Close()
}

// apply changes the state by one record (the caller holds mu, or is
// replaying).
func (s *store) apply(r record) error {
	if r.Kind == "filed" {
		if r.Dossier == nil {
			return errors.New("filed without a dossier")
		}
		d := *r.Dossier
		s.byCode[d.MaHoSo] = &dossierState{d: d, status: portal.StatusFiled}
		s.order = append(s.order, d.MaHoSo)
		s.seq = max(s.seq, d.Seq)
		return nil
	}
	st := s.byCode[r.Code]
	if st == nil {
		return fmt.Errorf("%s for unknown dossier %q", r.Kind, r.Code)
	}
	switch r.Kind {
	case "ack":
		st.acked = true
	case "sync":
		if r.Sync == nil {
			return errors.New("sync without a message")
		}
		st.status = r.Sync.TrangThaiHoSo
		st.last = r.Sync
		st.statuses = append(st.statuses, StatusEntry{
			TrangThaiHoSo: r.Sync.TrangThaiHoSo, TenTrangThai: r.Sync.TrangThaiHoSo.Name(),
			MessageId: r.MessageID, NhanLuc: portal.Time{Time: r.At},
		})
		s.msgs[r.MessageID] = r.Sum
	case "progress":
		if r.Progress == nil {
			return errors.New("progress without a message")
		}
		st.progress = append(st.progress, *r.Progress)
		s.msgs[r.MessageID] = r.Sum
	default:
		return fmt.Errorf("unknown kind %q", r.Kind)
	}
	return nil
}

// append writes r to the journal, synced, then applies it (the caller
// holds mu).
func (s *store) append(r record) error {
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("portal stand-in: encoding %s: %w", r.Kind, err)
	}
	if _, err := s.f.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("portal stand-in: writing journal: %w", err)
	}
	if err := s.f.Sync(); err != nil {
		return fmt.Errorf("portal stand-in: syncing journal: %w", err)
	}
	return s.apply(r)
}

// filePath is where the scan with id is kept.
func (s *store) filePath(id string) string { return filepath.Join(s.dir, "files", id) }

// writeFile keeps a scan durably under id.
func (s *store) writeFile(id string, r io.Reader) error {
	tmp := s.filePath(id) + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("portal stand-in: keeping scan %s: %w", id, err)
	}
	_, err = io.Copy(f, r)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, s.filePath(id))
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("portal stand-in: keeping scan %s: %w", id, err)
	}
	return nil
}

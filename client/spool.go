package client

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// The spool keeps every emitted activity on disk until the server has
// acknowledged it. It is a directory of segment files, each a sequence of
// records:
//
//	magic "ALS1" | length uint32 | CRC-32C of the payload uint32 | payload
//
// (big-endian), the payload an activity's JSON, its event_id included. A
// segment is appended to and fsynced before Emit returns, closed when it
// reaches spoolSegmentBytes, and removed once closed and every record in
// it acknowledged. A new emitter on the same directory sends every record
// of the segments it finds: the records already delivered are recorded
// once all the same, since the server de-duplicates their event_ids.
//
// A record that does not check (a torn write, a corrupted byte) is
// reported and skipped; the reader finds the next record by its magic, so
// the intact records after it are still delivered. A segment with such a
// record is kept, renamed *.corrupt, once its intact records are.

const (
	spoolMagic        = "ALS1"
	spoolHeader       = 12
	spoolSegmentBytes = 8 << 20
	// spoolMaxRecord bounds a record's length, so that a corrupted length
	// never makes the reader allocate gigabytes.
	spoolMaxRecord = 16 << 20
)

var crc32c = crc32.MakeTable(crc32.Castagnoli)

// segment is one spool file and the count of its records not yet
// acknowledged.
type segment struct {
	path    string
	corrupt bool
	// pending counts records written and not acknowledged; closed is set
	// once no more records will be written to it.
	pending int
	closed  bool
}

// spool is the emitter's spool directory; mu guards its segments.
type spool struct {
	dir    string
	unlock func()
	mu     sync.Mutex
	cur    *segment
	file   *os.File
	size   int64
	next   int // the number of the next segment
	report func(error)
}

// openSpool locks the directory (an emitter of another process holding it
// is refused) and lists its segments, oldest first.
func openSpool(dir string, report func(error)) (*spool, []*segment, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, fmt.Errorf("auditlog: spool directory: %w", err)
	}
	unlock, err := lockDir(filepath.Join(dir, "LOCK"))
	if err != nil {
		return nil, nil, fmt.Errorf("auditlog: spool %s: %w", dir, err)
	}
	s := &spool{dir: dir, unlock: unlock, report: report}
	names, err := filepath.Glob(filepath.Join(dir, "segment-*.log"))
	if err != nil {
		unlock()
		return nil, nil, err
	}
	var found []*segment
	for _, name := range names {
		n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(filepath.Base(name), "segment-"), ".log"))
		if err != nil {
			continue
		}
		s.next = max(s.next, n+1)
		found = append(found, &segment{path: name, closed: true})
	}
	slices.SortFunc(found, func(a, b *segment) int { return strings.Compare(a.path, b.path) })
	return s, found, nil
}

// read returns the intact records of a segment found at start, reporting
// the ones that do not check.
func (s *spool) read(seg *segment, report func(error)) ([][]byte, error) {
	f, err := os.Open(seg.path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(bufio.NewReader(f))
	if err != nil {
		return nil, err
	}
	var records [][]byte
	for off := 0; off < len(data); {
		payload, n, ok := decodeRecord(data[off:])
		if ok {
			records = append(records, payload)
			off += n
			continue
		}
		// Find the next record by its magic.
		skip := bytes.Index(data[off+1:], []byte(spoolMagic))
		end := len(data)
		if skip >= 0 {
			end = off + 1 + skip
		}
		seg.corrupt = true
		report(fmt.Errorf("auditlog: spool %s: the record at byte %d does not check (torn or corrupted; %d bytes skipped); the intact records are delivered and the file is kept as %s.corrupt", seg.path, off, end-off, filepath.Base(seg.path)))
		off = end
	}
	seg.pending = len(records)
	return records, nil
}

// decodeRecord reads the record at the start of b.
func decodeRecord(b []byte) (payload []byte, n int, ok bool) {
	if len(b) < spoolHeader || string(b[:4]) != spoolMagic {
		return nil, 0, false
	}
	l := int(binary.BigEndian.Uint32(b[4:]))
	if l > spoolMaxRecord || len(b) < spoolHeader+l {
		return nil, 0, false
	}
	payload = b[spoolHeader : spoolHeader+l]
	if crc32.Checksum(payload, crc32c) != binary.BigEndian.Uint32(b[8:]) {
		return nil, 0, false
	}
	return payload, spoolHeader + l, true
}

// write appends records to the current segment and fsyncs it; it
// returns the segment each record went to.
func (s *spool) write(payloads [][]byte) (*segment, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur == nil || s.size >= spoolSegmentBytes {
		if err := s.rotate(); err != nil {
			return nil, err
		}
	}
	var buf []byte
	for _, p := range payloads {
		buf = append(buf, spoolMagic...)
		buf = binary.BigEndian.AppendUint32(buf, uint32(len(p)))
		buf = binary.BigEndian.AppendUint32(buf, crc32.Checksum(p, crc32c))
		buf = append(buf, p...)
	}
	if _, err := s.file.Write(buf); err != nil {
		return nil, fmt.Errorf("auditlog: spool %s: %w", s.cur.path, err)
	}
	if err := s.file.Sync(); err != nil {
		return nil, fmt.Errorf("auditlog: spool %s: %w", s.cur.path, err)
	}
	s.size += int64(len(buf))
	s.cur.pending += len(payloads)
	return s.cur, nil
}

// rotate closes the current segment and starts the next.
func (s *spool) rotate() error {
	if s.cur != nil {
		s.file.Close()
		s.cur.closed = true
		s.retire(s.cur)
	}
	seg := &segment{path: filepath.Join(s.dir, fmt.Sprintf("segment-%012d.log", s.next))}
	f, err := os.OpenFile(seg.path, os.O_CREATE|os.O_EXCL|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("auditlog: spool: %w", err)
	}
	if err := syncDir(s.dir); err != nil {
		f.Close()
		return err
	}
	s.next++
	s.cur, s.file, s.size = seg, f, 0
	return nil
}

// acknowledge counts n records of seg as delivered.
func (s *spool) acknowledge(seg *segment, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	seg.pending -= n
	s.retire(seg)
}

// retire removes a closed segment whose records were all delivered (or
// keeps it as *.corrupt).
func (s *spool) retire(seg *segment) {
	if !seg.closed || seg.pending > 0 {
		return
	}
	var err error
	if seg.corrupt {
		err = os.Rename(seg.path, seg.path+".corrupt")
	} else {
		err = os.Remove(seg.path)
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		s.report(fmt.Errorf("auditlog: spool: retiring %s: %w", seg.path, err))
	}
}

// close closes the current segment (removing it if every record in it
// was delivered) and unlocks the directory.
func (s *spool) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur != nil {
		s.file.Close()
		s.cur.closed = true
		s.retire(s.cur)
		s.cur = nil
	}
	s.unlock()
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("auditlog: spool: syncing %s: %w", dir, err)
	}
	return nil
}

package client

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"os"
	"path/filepath"
	"testing"
)

// FuzzSpoolSegment reads arbitrary bytes as a spool segment: reading
// never fails or panics, every record it returns is one that was written
// whole (its length and checksum check), and records written after a
// damaged stretch are still found.
func FuzzSpoolSegment(f *testing.F) {
	record := func(payload string) []byte {
		var b []byte
		b = append(b, spoolMagic...)
		b = binary.BigEndian.AppendUint32(b, uint32(len(payload)))
		b = binary.BigEndian.AppendUint32(b, crc32.Checksum([]byte(payload), crc32c))
		return append(b, payload...)
	}
	f.Add([]byte{}, []byte{})
	f.Add(record(`{"a":1}`), record(`{"b":2}`))
	f.Add([]byte("ALS1\x00\x00\x00\x05garbage"), record(`{"after":"damage"}`))
	f.Add([]byte("ALS1\xff\xff\xff\xff"), record("x"))
	f.Fuzz(func(t *testing.T, damage, intact []byte) {
		dir := t.TempDir()
		path := filepath.Join(dir, "segment-000000000001.log")
		// A damaged stretch, then one record written whole.
		want := []byte(`{"event_id":"kept"}`)
		data := append(append(bytes.Clone(damage), intact...), record(string(want))...)
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		s := &spool{dir: dir}
		reported := 0
		records, err := s.read(&segment{path: path, closed: true}, func(error) { reported++ })
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range records {
			if !bytes.Contains(data, r) {
				t.Fatalf("a record that was not written: %q", r)
			}
		}
		if len(records) == 0 || !bytes.Equal(records[len(records)-1], want) {
			t.Fatalf("the last record, written whole after %d damaged bytes, was lost (%d records, %d reports)", len(damage)+len(intact), len(records), reported)
		}
	})
}

package store

import (
	"encoding/binary"
	"hash/crc32"
	"regexp"
)

var regexpMatchString = regexp.MatchString

// putCRC recomputes a journal file header's checksum (the format is in
// internal/store/journal/format.go).
func putCRC(hdr []byte) {
	binary.LittleEndian.PutUint32(hdr[32:], crc32.Checksum(hdr[:32], crc32.MakeTable(crc32.Castagnoli)))
}

// lastRecord is the offset of the last record in a journal file: records
// (a 17-byte frame: checksum, size, LSN, type; then the payload) follow the
// 40-byte header up to a frame of zeros or the end.
func lastRecord(data []byte) int {
	last := -1
	for off := 40; off+17 <= len(data); {
		size := int(binary.LittleEndian.Uint32(data[off+4:]))
		if binary.LittleEndian.Uint64(data[off+8:]) == 0 {
			break
		}
		last = off
		off += 17 + size
	}
	return last
}

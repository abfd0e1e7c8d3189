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

package journal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"strconv"
	"strings"
)

// The on-disk format. A journal is a directory of segment files named by
// their sequence number in hex (0000000000000001.jnl). Each segment starts
// with a header; records follow back to back:
//
//	header (40 bytes, little endian):
//	  magic "qpidhaJL" | format version u32 | reserved u32 |
//	  segment sequence u64 | LSN of its first record u64 |
//	  CRC-32C of the 32 bytes before u32 | reserved u32
//	record (17 bytes + payload):
//	  CRC-32C of everything after it u32 | payload size u32 |
//	  LSN u64 | type u8 | payload
//
// LSNs (log sequence numbers) count records from 1 without gaps across
// segments, so a record left over from an older file can never pass for
// the next one. Replay stops at the first record that is short, fails its
// checksum or breaks the sequence: the torn tail a crash leaves.
const (
	// Version is the format version this code writes and reads (2: the
	// store's enqueue records carry the HA identity, position records).
	Version     = 2
	magic       = "qpidhaJL"
	headerSize  = 40
	frameSize   = 17
	segmentExt  = ".jnl"
	droppedExt  = ".dropped"
	maxPayload  = 1 << 30
	nameDigits  = 16
	segmentBase = 16
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ErrVersion is the error for a segment of a format this code does not read.
var ErrVersion = errors.New("unknown journal format version")

// terminator is written after the last record: a frame of zeros, which no
// record can be (its LSN would be 0).
var terminator [frameSize]byte

// terminated reports whether b starts with a terminator (or the part of
// one that fits): the end of the records.
func terminated(b []byte) bool { return allZero(b[:min(len(b), frameSize)]) }

// spareName is the name of a spare file: a segment to be, recycled or
// zeroed (see Config.Preallocate).
func spareName(n uint64) string { return fmt.Sprintf("spare-%0*x", nameDigits, n) }

func parseSpareName(name string) (uint64, bool) {
	hex, ok := strings.CutPrefix(name, "spare-")
	if !ok || len(hex) != nameDigits {
		return 0, false
	}
	n, err := strconv.ParseUint(hex, segmentBase, 64)
	return n, err == nil
}

// segmentName is the file name of segment seq.
func segmentName(seq uint64) string {
	return fmt.Sprintf("%0*x%s", nameDigits, seq, segmentExt)
}

// parseSegmentName returns the sequence number of a segment file name.
func parseSegmentName(name string) (uint64, bool) {
	hex, ok := strings.CutSuffix(name, segmentExt)
	if !ok || len(hex) != nameDigits {
		return 0, false
	}
	seq, err := strconv.ParseUint(hex, segmentBase, 64)
	return seq, err == nil && seq > 0
}

func appendHeader(b []byte, seq, firstLSN uint64) []byte {
	start := len(b)
	b = append(b, magic...)
	b = binary.LittleEndian.AppendUint32(b, Version)
	b = binary.LittleEndian.AppendUint32(b, 0)
	b = binary.LittleEndian.AppendUint64(b, seq)
	b = binary.LittleEndian.AppendUint64(b, firstLSN)
	b = binary.LittleEndian.AppendUint32(b, crc32.Checksum(b[start:], castagnoli))
	return binary.LittleEndian.AppendUint32(b, 0)
}

// header is a segment's parsed header.
type header struct {
	version  uint32
	seq      uint64
	firstLSN uint64
}

// errTornHeader is a header too short or failing its checksum: a segment
// whose creation a crash interrupted.
var errTornHeader = errors.New("segment header incomplete or damaged")

func parseHeader(b []byte) (header, error) {
	if len(b) < headerSize {
		return header{}, errTornHeader
	}
	if string(b[:8]) != magic {
		if allZero(b[:headerSize]) {
			return header{}, errTornHeader
		}
		return header{}, fmt.Errorf("not a qpidha journal segment (its first bytes are %q)", b[:8])
	}
	h := header{
		version:  binary.LittleEndian.Uint32(b[8:]),
		seq:      binary.LittleEndian.Uint64(b[16:]),
		firstLSN: binary.LittleEndian.Uint64(b[24:]),
	}
	if crc32.Checksum(b[:32], castagnoli) != binary.LittleEndian.Uint32(b[32:]) {
		return h, errTornHeader
	}
	if h.version != Version {
		return h, fmt.Errorf("%w %d (this qpidd reads version %d)", ErrVersion, h.version, Version)
	}
	return h, nil
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// appendRecord frames a record onto b; its payload is the parts, one
// after the other.
func appendRecord(b []byte, lsn uint64, typ byte, parts ...[]byte) []byte {
	start := len(b)
	b = binary.LittleEndian.AppendUint32(b, 0) // the checksum, below
	b = binary.LittleEndian.AppendUint32(b, uint32(payloadSize(parts)))
	b = binary.LittleEndian.AppendUint64(b, lsn)
	b = append(b, typ)
	for _, p := range parts {
		b = append(b, p...)
	}
	binary.LittleEndian.PutUint32(b[start:], crc32.Checksum(b[start+4:], castagnoli))
	return b
}

func payloadSize(parts [][]byte) int {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	return n
}

// Record is a record read back.
type Record struct {
	LSN     uint64
	Type    byte
	Segment uint64
	// Data is the payload; it is valid only during the call it is passed to.
	Data []byte
}

// parseRecord reads the record at the start of b, which must have LSN
// want: it returns the record and its framed size, or why b holds none.
func parseRecord(b []byte, want uint64) (Record, int, error) {
	if len(b) < frameSize {
		return Record{}, 0, fmt.Errorf("a record header needs %d bytes, %d left", frameSize, len(b))
	}
	size := binary.LittleEndian.Uint32(b[4:])
	if size > maxPayload || int64(size) > int64(len(b)-frameSize) {
		return Record{}, 0, fmt.Errorf("a record of %d bytes runs past the end (%d left)", size, len(b)-frameSize)
	}
	n := frameSize + int(size)
	if crc32.Checksum(b[4:n], castagnoli) != binary.LittleEndian.Uint32(b) {
		return Record{}, 0, errors.New("checksum mismatch")
	}
	lsn := binary.LittleEndian.Uint64(b[8:])
	if lsn != want {
		return Record{}, 0, fmt.Errorf("record %d where %d was next", lsn, want)
	}
	return Record{LSN: lsn, Type: b[16], Data: b[frameSize:n]}, n, nil
}

// RecordSize is the bytes a record with a payload of n bytes takes on disk.
func RecordSize(n int) int64 { return int64(frameSize + n) }

package frame_test

import (
	"testing"

	"github.com/qpidha/qpidha/internal/amqp/frame"
	"github.com/qpidha/qpidha/internal/amqp/types"
)

// BenchmarkParseFrame parses a transfer frame with a 1 KiB payload.
func BenchmarkParseFrame(b *testing.B) {
	tr := types.DefaultTransfer()
	tr.Handle = 1
	tr.DeliveryID = types.Some(uint32(123456))
	tr.DeliveryTag = []byte{0, 0, 0, 0, 0, 1, 0xe2, 0x40}
	tr.MessageFormat = types.Some(uint32(0))
	buf, err := frame.Append(nil, frame.TypeAMQP, 3, &tr, make([]byte, 1024))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		f, n, err := frame.Parse(buf, 1<<20)
		if err != nil || n != len(buf) || len(f.Payload) != 1024 {
			b.Fatal(n, err)
		}
	}
}

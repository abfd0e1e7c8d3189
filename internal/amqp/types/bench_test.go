package types_test

import (
	"testing"

	"github.com/qpidha/qpidha/internal/amqp/types"
)

// benchTransfer is a typical transfer of an unsettled delivery.
func benchTransfer() *types.Transfer {
	tr := types.DefaultTransfer()
	tr.Handle = 1
	tr.DeliveryID = types.Some(uint32(123456))
	tr.DeliveryTag = []byte{0, 0, 0, 0, 0, 1, 0xe2, 0x40}
	tr.MessageFormat = types.Some(uint32(0))
	tr.More = true
	return &tr
}

func BenchmarkMarshalTransfer(b *testing.B) {
	tr := benchTransfer()
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		var err error
		if buf, err = tr.Marshal(buf[:0]); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(len(buf)))
}

func BenchmarkUnmarshalTransfer(b *testing.B) {
	enc, err := benchTransfer().Marshal(nil)
	if err != nil {
		b.Fatal(err)
	}
	var tr types.Transfer
	d := types.NewDecoder(nil)
	b.SetBytes(int64(len(enc)))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		d.Reset(enc)
		if err := tr.Unmarshal(d); err != nil {
			b.Fatal(err)
		}
	}
}

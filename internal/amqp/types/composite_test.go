package types_test

import (
	"bytes"
	"encoding/binary"
	"reflect"
	"slices"
	"testing"

	"github.com/qpidha/qpidha/internal/amqp/types"
)

// def adapts a Default<Name> constructor to return a pointer to a composite.
func def[T any, P interface {
	*T
	types.Composite
}](f func() T) func() types.Composite {
	return func() types.Composite { v := f(); return P(&v) }
}

// composites lists every generated composite type with the indexes of the
// fields the spec makes mandatory.
var composites = []struct {
	new       func() types.Composite
	mandatory []int
}{
	{def(types.DefaultOpen), []int{0}},
	{def(types.DefaultBegin), []int{1, 2, 3}},
	{def(types.DefaultAttach), []int{0, 1, 2}},
	{def(types.DefaultFlow), []int{1, 2, 3}},
	{def(types.DefaultTransfer), []int{0}},
	{def(types.DefaultDisposition), []int{0, 1}},
	{def(types.DefaultDetach), []int{0}},
	{def(types.DefaultEnd), nil},
	{def(types.DefaultClose), nil},
	{def(types.DefaultError), []int{0}},
	{def(types.DefaultHeader), nil},
	{def(types.DefaultProperties), nil},
	{def(types.DefaultReceived), []int{0, 1}},
	{def(types.DefaultAccepted), nil},
	{def(types.DefaultRejected), nil},
	{def(types.DefaultReleased), nil},
	{def(types.DefaultModified), nil},
	{def(types.DefaultSource), nil},
	{def(types.DefaultTarget), nil},
	{def(types.DefaultDeleteOnClose), nil},
	{def(types.DefaultDeleteOnNoLinks), nil},
	{def(types.DefaultDeleteOnNoMessages), nil},
	{def(types.DefaultDeleteOnNoLinksOrMessages), nil},
	{def(types.DefaultSASLMechanisms), []int{0}},
	{def(types.DefaultSASLInit), []int{0}},
	{def(types.DefaultSASLChallenge), []int{0}},
	{def(types.DefaultSASLResponse), []int{0}},
	{def(types.DefaultSASLOutcome), []int{0}},
	{def(types.DefaultCoordinator), nil},
	{def(types.DefaultDeclare), nil},
	{def(types.DefaultDischarge), []int{0}},
	{def(types.DefaultDeclared), []int{0}},
	{def(types.DefaultTransactionalState), []int{0}},
}

func name(c types.Composite) string { return reflect.TypeOf(c).Elem().Name() }

func TestCompositesTableComplete(t *testing.T) {
	names := types.CompositeNames()
	seen := map[uint64]bool{}
	for _, c := range composites {
		v := c.new()
		if seen[v.Descriptor()] {
			t.Errorf("%s listed twice", name(v))
		}
		seen[v.Descriptor()] = true
		for _, desc := range []any{v.Descriptor(), names[v.Descriptor()]} {
			if got, ok := types.NewComposite(desc); !ok || reflect.TypeOf(got) != reflect.TypeOf(v) {
				t.Errorf("NewComposite(%v) = %T, want %T", desc, got, v)
			}
		}
	}
	for code, n := range names {
		if !seen[code] {
			t.Errorf("composite %s (0x%x) is not tested", n, code)
		}
	}
}

// sample returns a value of type t different from cur (a field's default).
func sample(t reflect.Type, cur reflect.Value) reflect.Value {
	v := reflect.New(t).Elem()
	switch {
	case t.Kind() == reflect.Struct && t.NumField() == 2 && t.Field(1).Name == "Set": // Opt[T]
		v.Field(0).Set(sample(t.Field(0).Type, v.Field(0)))
		v.Field(1).SetBool(true)
	case t == reflect.TypeOf(&types.Error{}):
		v.Set(reflect.ValueOf(&types.Error{Condition: types.CondNotFound, Description: "gone", Info: types.Map{{types.Symbol("why"), "test"}}}))
	case t == reflect.TypeOf(types.Map{}):
		v.Set(reflect.ValueOf(types.Map{{types.Symbol("k"), "v"}, {uint64(1), int32(-1)}}))
	case t == reflect.TypeOf([]types.Symbol{}):
		v.Set(reflect.ValueOf([]types.Symbol{"a", "bc"}))
	case t == reflect.TypeOf([]byte{}):
		v.SetBytes([]byte{1, 2, 3})
	case t.Kind() == reflect.Interface:
		v.Set(reflect.ValueOf(&types.Rejected{Error: &types.Error{Condition: types.CondDecodeError}}))
	case t.Kind() == reflect.Bool:
		v.SetBool(!cur.Bool())
	case t.Kind() >= reflect.Uint8 && t.Kind() <= reflect.Uint64:
		v.SetUint(cur.Uint() + 1)
	case t.Kind() >= reflect.Int8 && t.Kind() <= reflect.Int64:
		v.SetInt(cur.Int() + 1)
	case t.Kind() == reflect.String:
		v.SetString(cur.String() + "x")
	default:
		panic("no sample for " + t.String())
	}
	return v
}

// setField sets field i of the composite c to a non-default sample.
func setField(c types.Composite, i int) {
	f := reflect.ValueOf(c).Elem().Field(i)
	f.Set(sample(f.Type(), f))
}

// withMandatory returns a new composite of case k with its mandatory fields set.
func withMandatory(k int) types.Composite {
	c := composites[k].new()
	for _, i := range composites[k].mandatory {
		setField(c, i)
	}
	return c
}

// minFields is the number of fields a composite of case k always encodes:
// up to its last mandatory one.
func minFields(k int) int {
	m := composites[k].mandatory
	if len(m) == 0 {
		return 0
	}
	return m[len(m)-1] + 1
}

// listCount returns the number of fields a marshaled composite's list holds.
func listCount(t *testing.T, b []byte) int {
	t.Helper()
	d := types.NewDecoder(b)
	if _, err := d.ReadDescriptor(); err != nil {
		t.Fatal(err)
	}
	l := d.Rest()
	switch l[0] {
	case types.CodeListList0:
		return 0
	case types.CodeListList8:
		return int(l[2])
	case types.CodeListList32:
		return int(binary.BigEndian.Uint32(l[5:]))
	}
	t.Fatalf("composite is not a list: % x", b)
	return 0
}

// roundTrip marshals c, checks its field count, and checks that both
// Unmarshal and the generic decoder give back c.
func roundTrip(t *testing.T, c types.Composite, wantCount int) []byte {
	t.Helper()
	b, err := c.Marshal(nil)
	if err != nil {
		t.Fatalf("Marshal %#v: %v", c, err)
	}
	if n := listCount(t, b); n != wantCount {
		t.Errorf("%s encodes %d fields, want %d: % x", name(c), n, wantCount, b)
	}
	got := reflect.New(reflect.TypeOf(c).Elem()).Interface().(types.Composite)
	if err := types.Unmarshal(b, got); err != nil {
		t.Fatalf("Unmarshal %s from % x: %v", name(c), b, err)
	}
	if !reflect.DeepEqual(got, c) {
		t.Errorf("Unmarshal\n got %#v\nwant %#v", got, c)
	}
	v, err := decodeAll(b)
	if err != nil || !reflect.DeepEqual(v, c) {
		t.Errorf("Value: %#v, %v; want %#v", v, err, c)
	}
	return b
}

// TestCompositeMandatoryOnly checks a composite with only its mandatory fields
// set encodes only those.
func TestCompositeMandatoryOnly(t *testing.T) {
	for k := range composites {
		roundTrip(t, withMandatory(k), minFields(k))
	}
}

// TestCompositeEachField sets each field alone: the fields before it that are
// not mandatory are encoded as null and decode as their defaults, the fields
// after it are omitted.
func TestCompositeEachField(t *testing.T) {
	for k, c := range composites {
		n := reflect.ValueOf(c.new()).Elem().NumField()
		for i := 0; i < n; i++ {
			v := withMandatory(k)
			setField(v, i)
			roundTrip(t, v, max(i+1, minFields(k)))
		}
	}
}

// TestCompositeAllFields sets every field, and decodes the result with the
// symbolic descriptor too.
func TestCompositeAllFields(t *testing.T) {
	names := types.CompositeNames()
	for _, c := range composites {
		v := c.new()
		n := reflect.ValueOf(v).Elem().NumField()
		for i := 0; i < n; i++ {
			setField(v, i)
		}
		b := roundTrip(t, v, n)

		d := types.NewDecoder(b)
		_, _ = d.ReadDescriptor()
		sym := cat([]byte{0x00}, types.AppendSymbol(nil, names[v.Descriptor()]), d.Rest())
		got := c.new()
		if err := types.Unmarshal(sym, got); err != nil || !reflect.DeepEqual(got, v) {
			t.Errorf("%s with a symbolic descriptor: %#v, %v", name(v), got, err)
		}
		if got, err := decodeAll(sym); err != nil || !reflect.DeepEqual(got, v) {
			t.Errorf("%s with a symbolic descriptor, generic: %#v, %v", name(v), got, err)
		}
	}
}

// fields returns the descriptor and fields of a marshaled composite as generic values.
func fields(t *testing.T, c types.Composite) (uint64, []any) {
	t.Helper()
	b, err := c.Marshal(nil)
	if err != nil {
		t.Fatal(err)
	}
	d := types.NewDecoder(b)
	code, err := d.ReadDescriptor()
	if err != nil {
		t.Fatal(err)
	}
	l, err := d.Value()
	if err != nil {
		t.Fatal(err)
	}
	return code, l.([]any)
}

// compose encodes a described list.
func compose(t *testing.T, code uint64, items []any) []byte {
	t.Helper()
	return mustEncode(t, types.Described{Descriptor: code, Value: items})
}

func TestCompositeMandatoryMissing(t *testing.T) {
	for k, c := range composites {
		code, items := fields(t, withMandatory(k))
		for _, i := range c.mandatory {
			// Null in a mandatory field.
			bad := append([]any{}, items...)
			bad[i] = nil
			wantDecodeErr(t, name(c.new())+" null mandatory", types.Unmarshal(compose(t, code, bad), c.new()))
			// Too few fields.
			wantDecodeErr(t, name(c.new())+" short", types.Unmarshal(compose(t, code, items[:i]), c.new()))
		}
	}
}

// TestCompositeMultiple checks that every "multiple" field takes a single
// symbol as well as an array of symbols, and nothing else.
func TestCompositeMultiple(t *testing.T) {
	symbols := reflect.TypeOf([]types.Symbol{})
	checked := 0
	for k, c := range composites {
		typ := reflect.TypeOf(c.new()).Elem()
		for i := 0; i < typ.NumField(); i++ {
			if typ.Field(i).Type != symbols {
				continue
			}
			checked++
			v := withMandatory(k)
			setField(v, i)
			code, items := fields(t, v)
			for _, f := range []struct {
				enc  any
				want []types.Symbol
			}{
				{types.Symbol("one"), []types.Symbol{"one"}},
				{[]types.Symbol{"a", "b"}, []types.Symbol{"a", "b"}},
				{[]types.Symbol{}, []types.Symbol{}},
				{nil, nil},
			} {
				if f.enc == nil && slices.Contains(c.mandatory, i) {
					continue // see TestCompositeMandatoryMissing
				}
				items[i] = f.enc
				got := c.new()
				if err := types.Unmarshal(compose(t, code, items), got); err != nil {
					t.Errorf("%s.%s = %#v: %v", typ.Name(), typ.Field(i).Name, f.enc, err)
					continue
				}
				if g := reflect.ValueOf(got).Elem().Field(i).Interface(); !reflect.DeepEqual(g, f.want) {
					t.Errorf("%s.%s = %#v decodes as %#v", typ.Name(), typ.Field(i).Name, f.enc, g)
				}
			}
			for _, bad := range []any{"string", uint32(1), []string{"a"}, types.Array{Type: types.TypeSymbol, Descriptor: uint64(1), Items: []any{}}} {
				items[i] = bad
				wantDecodeErr(t, typ.Name()+"."+typ.Field(i).Name, types.Unmarshal(compose(t, code, items), c.new()))
			}
		}
	}
	if checked != 13 {
		t.Errorf("%d multiple fields found, the spec has 13", checked)
	}
}

// TestCompositeExact pins the encodings of a few composites.
func TestCompositeExact(t *testing.T) {
	open := types.DefaultOpen()
	open.ContainerID = "x"
	openFull := types.DefaultOpen()
	openFull.ContainerID = "x"
	openFull.IdleTimeOut = types.Some(uint32(0))
	begin := types.DefaultBegin()
	begin.NextOutgoingID, begin.IncomingWindow, begin.OutgoingWindow = 1, 2048, 300
	transfer := types.DefaultTransfer()
	transfer.DeliveryID = types.Some(uint32(0))
	transfer.DeliveryTag = []byte{7}
	for _, c := range []struct {
		v    types.Composite
		want string
	}{
		{&open, "00 53 10 c0 04 01 a1 01 78"},
		{&openFull, "00 53 10 c0 08 05 a1 01 78 40 40 40 43"},
		{&begin, "00 53 11 c0 0e 04 40 52 01 70 00 00 08 00 70 00 00 01 2c"},
		{&transfer, "00 53 14 c0 06 03 43 43 a0 01 07"},
		{&types.Flow{IncomingWindow: 1, NextOutgoingID: 2, OutgoingWindow: 3, LinkCredit: types.Some(uint32(0))},
			"00 53 13 c0 0b 07 40 52 01 52 02 52 03 40 40 43"},
		{&types.Disposition{Role: types.RoleReceiver, First: 5, Settled: true, State: &types.Accepted{}},
			"00 53 15 c0 0a 05 41 52 05 40 41 00 53 24 45"},
		{&types.Detach{Handle: 1, Closed: true}, "00 53 16 c0 04 02 52 01 41"},
		{&types.End{}, "00 53 17 45"},
		{&types.Close{Error: &types.Error{Condition: "c"}}, "00 53 18 c0 0a 01 00 53 1d c0 04 01 a3 01 63"},
		{&types.SASLMechanisms{SASLServerMechanisms: []types.Symbol{"PLAIN"}}, "00 53 40 c0 0b 01 e0 08 01 a3 05 50 4c 41 49 4e"},
		{&types.SASLOutcome{Code: types.SASLCodeOK}, "00 53 44 c0 03 01 50 00"},
		{&types.Header{Durable: true, Priority: 4}, "00 53 70 c0 02 01 41"},
	} {
		got, err := c.v.Marshal(nil)
		if err != nil || !bytes.Equal(got, hx(c.want)) {
			t.Errorf("%s:\n got % x, %v\nwant % x", name(c.v), got, err, hx(c.want))
		}
	}
}

// TestCompositeDecodeForms checks the decoder's leniency and strictness on
// hand-built composites.
func TestCompositeDecodeForms(t *testing.T) {
	open := types.DefaultOpen()
	open.ContainerID = "c"
	openHost := open
	openHost.Hostname = "h"
	openIdle := open
	openIdle.IdleTimeOut = types.Some(uint32(5))
	attach := types.DefaultAttach()
	attach.Name, attach.Handle, attach.Role = "l", 0, types.RoleReceiver
	for _, c := range []struct {
		in   string
		into types.Composite
		want types.Composite // nil: must fail
	}{
		// Explicit nulls decode as defaults.
		{"00 53 10 c0 08 05 a1 01 63 40 40 40 40", new(types.Open), &open},
		{"00 53 12 c0 08 05 a1 01 6c 43 41 40 40", new(types.Attach), &attach},
		// list0, list8 and list32 forms.
		{"00 53 17 45", new(types.End), &types.End{}},
		{"00 53 17 c0 01 00", new(types.End), &types.End{}},
		{"00 53 17 d0 00 00 00 04 00 00 00 00", new(types.End), &types.End{}},
		{"00 53 10 d0 00 00 00 0a 00 00 00 02 a1 01 63 a1 01 68", new(types.Open), &openHost},
		// Wide and narrow encodings of the field's type.
		{"00 53 10 c0 0b 05 b1 00 00 00 01 63 40 40 40 40", new(types.Open), &open},
		{"00 53 10 c0 0c 05 a1 01 63 40 40 40 70 00 00 00 05", new(types.Open), &openIdle},
		{"00 53 10 c0 09 05 a1 01 63 40 40 40 50 05", new(types.Open), &openIdle},
		{"00 53 10 c0 0a 05 a1 01 63 40 40 40 60 00 05", new(types.Open), &openIdle},
		{"00 53 12 c0 09 05 a1 01 6c 43 56 01 40 40", new(types.Attach), &attach},
		// Fields the spec does not define (a later version's) are skipped.
		{"00 53 17 c0 08 03 40 a1 01 78 c0 01 00", new(types.End), &types.End{}},
		// Symbolic descriptor.
		{"00 a3 0d 61 6d 71 70 3a 65 6e 64 3a 6c 69 73 74 45", new(types.End), &types.End{}},
		// Failures.
		{"00 53 18 45", new(types.End), nil},                                                     // another descriptor
		{"00 a3 0e 61 6d 71 70 3a 6f 70 65 6e 3a 6c 69 73 74 45", new(types.End), nil},           // open's symbol
		{"00 a3 03 61 3a 62 45", new(types.End), nil},                                            // unknown symbol
		{"40", new(types.End), nil},                                                              // not described
		{"00 53 17 c1 01 00", new(types.End), nil},                                               // a map, not a list
		{"00 53 17 40", new(types.End), nil},                                                     // null, not a list
		{"00 53 17 c0 04 01 a1 01 78", new(types.End), nil},                                      // wrong field type
		{"00 53 17 c0 05 01 00 53 1d 45", new(types.End), nil},                                   // error without condition
		{"00 53 17 c0 03 01 40 40", new(types.End), nil},                                         // size beyond contents
		{"00 53 10 c0 04 01 a3 01 63", new(types.Open), nil},                                     // symbol for a string
		{"00 53 10 c0 06 02 a1 01 63 00 40", new(types.Open), nil},                               // described hostname
		{"00 53 10 c0 10 05 a1 01 63 40 40 40 80 00 00 00 00 00 00 00 05", new(types.Open), nil}, // ulong for a uint
		{"00 53 11 c0 0a 04 70 00 00 00 01 43 43 43", new(types.Begin), nil},                     // uint for a ushort
		{"00 53 12 c0 07 03 a1 01 6c 43 56 02", new(types.Attach), nil},                          // boolean byte 2
		{"00 53 12 c0 07 03 a1 01 6c 43 52 01", new(types.Attach), nil},                          // uint for a boolean
		{"00 53 73 c0 02 01 45 a1 00", new(types.Properties), nil},                               // bytes after the value
		{"00 53 73 c0 0b 09 40 40 40 40 40 40 40 40 83 00", new(types.Properties), nil},          // truncated timestamp
	} {
		err := types.Unmarshal(hx(c.in), c.into)
		if c.want == nil {
			wantDecodeErr(t, c.in, err)
			continue
		}
		if err != nil || !reflect.DeepEqual(c.into, c.want) {
			t.Errorf("%s: %#v, %v; want %#v", c.in, c.into, err, c.want)
		}
	}
}

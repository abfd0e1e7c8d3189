package selector

import (
	"math"

	"github.com/qpidha/qpidha/internal/amqp/types"
)

// kind is the type of a value during evaluation.
type kind uint8

const (
	kNull   kind = iota // NULL, a missing field or UNKNOWN
	kBool               // boolean (TRUE or FALSE)
	kInt                // exact numeric
	kFloat              // approximate numeric
	kString             // string
	kOther              // present, but of a type selectors cannot compare
)

type value struct {
	k kind
	b bool
	i int64
	f float64
	s string
}

var (
	unknown = value{}
	vTrue   = value{k: kBool, b: true}
	vFalse  = value{k: kBool}
)

func boolValue(b bool) value {
	if b {
		return vTrue
	}
	return vFalse
}

func (v value) numeric() bool { return v.k == kInt || v.k == kFloat }

func (v value) float() float64 {
	if v.k == kInt {
		return float64(v.i)
	}
	return v.f
}

// fromGo converts a field value returned by Fields.Get.
func fromGo(x any) value {
	switch x := x.(type) {
	case nil:
		return unknown
	case bool:
		return boolValue(x)
	case string:
		return value{k: kString, s: x}
	case types.Symbol:
		return value{k: kString, s: string(x)}
	case int64:
		return value{k: kInt, i: x}
	case int32:
		return value{k: kInt, i: int64(x)}
	case int:
		return value{k: kInt, i: int64(x)}
	case int16:
		return value{k: kInt, i: int64(x)}
	case int8:
		return value{k: kInt, i: int64(x)}
	case uint8:
		return value{k: kInt, i: int64(x)}
	case uint16:
		return value{k: kInt, i: int64(x)}
	case uint32:
		return value{k: kInt, i: int64(x)}
	case uint64:
		if x > math.MaxInt64 {
			return value{k: kFloat, f: float64(x)}
		}
		return value{k: kInt, i: int64(x)}
	case uint:
		if uint64(x) > math.MaxInt64 {
			return value{k: kFloat, f: float64(x)}
		}
		return value{k: kInt, i: int64(x)}
	case float64:
		return value{k: kFloat, f: x}
	case float32:
		return value{k: kFloat, f: float64(x)}
	case types.Timestamp:
		return value{k: kInt, i: int64(x)}
	case types.Char:
		return value{k: kString, s: string(rune(x))}
	}
	return value{k: kOther}
}

// toGo converts a value back to the Go type fromGo would accept: the inverse
// of fromGo up to the width of numbers.
func (v value) toGo() any {
	switch v.k {
	case kBool:
		return v.b
	case kInt:
		return v.i
	case kFloat:
		return v.f
	case kString:
		return v.s
	}
	return nil
}

// node is a parsed expression. eval never fails: problems are UNKNOWN.
type node interface {
	eval(m Fields) value
}

type literal struct{ v value }

func (n *literal) eval(Fields) value { return n.v }

type ident struct {
	name    string
	special field // the header or properties field name means in FromAMQP's Fields, or 0
}

func (n *ident) eval(m Fields) value {
	if f, ok := m.(*amqpFields); ok { // skip the name lookup and the boxing
		if n.special != 0 {
			v, _ := f.special(n.special)
			return v
		}
		x, _ := f.appProperty(n.name)
		return fromGo(x)
	}
	x, ok := m.Get(n.name)
	if !ok {
		return unknown
	}
	return fromGo(x)
}

// truth maps a value to a three-valued truth: TRUE, FALSE or (anything else) UNKNOWN.
func truth(v value) value {
	if v.k == kBool {
		return v
	}
	return unknown
}

type notNode struct{ x node }

func (n *notNode) eval(m Fields) value { return not(n.x.eval(m)) }

func not(v value) value {
	if v.k != kBool {
		return unknown
	}
	return boolValue(!v.b)
}

type andNode struct{ xs []node }

func (n *andNode) eval(m Fields) value {
	r := vTrue
	for _, x := range n.xs {
		switch v := truth(x.eval(m)); {
		case v.k == kNull:
			r = unknown
		case !v.b:
			return vFalse
		}
	}
	return r
}

type orNode struct{ xs []node }

func (n *orNode) eval(m Fields) value {
	r := vFalse
	for _, x := range n.xs {
		switch v := truth(x.eval(m)); {
		case v.k == kNull:
			r = unknown
		case v.b:
			return vTrue
		}
	}
	return r
}

type cmpOp uint8

const (
	opEq cmpOp = iota
	opNe
	opLt
	opLe
	opGt
	opGe
)

var cmpOpNames = [...]string{"=", "<>", "<", "<=", ">", ">="}

type cmpNode struct {
	op   cmpOp
	l, r node
}

func (n *cmpNode) eval(m Fields) value {
	l := n.l.eval(m)
	if l.k == kNull {
		return unknown
	}
	return compare(n.op, l, n.r.eval(m))
}

// compare applies a comparison operator with promotion of exact to approximate
// numerics; strings and booleans support only = and <>.
func compare(op cmpOp, l, r value) value {
	switch {
	case l.k == kNull || r.k == kNull:
		return unknown
	case l.k == kInt && r.k == kInt:
		a, b := l.i, r.i
		switch op {
		case opEq:
			return boolValue(a == b)
		case opNe:
			return boolValue(a != b)
		case opLt:
			return boolValue(a < b)
		case opLe:
			return boolValue(a <= b)
		case opGt:
			return boolValue(a > b)
		default:
			return boolValue(a >= b)
		}
	case l.numeric() && r.numeric():
		a, b := l.float(), r.float()
		switch op {
		case opEq:
			return boolValue(a == b)
		case opNe:
			return boolValue(a != b)
		case opLt:
			return boolValue(a < b)
		case opLe:
			return boolValue(a <= b)
		case opGt:
			return boolValue(a > b)
		default:
			return boolValue(a >= b)
		}
	case l.k == kString && r.k == kString:
		switch op {
		case opEq:
			return boolValue(l.s == r.s)
		case opNe:
			return boolValue(l.s != r.s)
		}
	case l.k == kBool && r.k == kBool:
		switch op {
		case opEq:
			return boolValue(l.b == r.b)
		case opNe:
			return boolValue(l.b != r.b)
		}
	}
	return unknown
}

// arith is a left-associative chain x0 op0 x1 op1 x2 ... of + and - or of * and /.
type arith struct {
	first node
	ops   []byte
	rest  []node
}

func (n *arith) eval(m Fields) value {
	v := n.first.eval(m)
	for i, x := range n.rest {
		if !v.numeric() {
			return unknown
		}
		v = arithmetic(n.ops[i], v, x.eval(m))
	}
	return v
}

func arithmetic(op byte, l, r value) value {
	switch {
	case l.k == kInt && r.k == kInt:
		a, b := l.i, r.i
		switch op {
		case '+':
			return value{k: kInt, i: a + b}
		case '-':
			return value{k: kInt, i: a - b}
		case '*':
			return value{k: kInt, i: a * b}
		default:
			if b == 0 {
				return unknown
			}
			return value{k: kInt, i: a / b}
		}
	case l.numeric() && r.numeric():
		a, b := l.float(), r.float()
		switch op {
		case '+':
			return value{k: kFloat, f: a + b}
		case '-':
			return value{k: kFloat, f: a - b}
		case '*':
			return value{k: kFloat, f: a * b}
		default:
			return value{k: kFloat, f: a / b}
		}
	}
	return unknown
}

type negNode struct{ x node }

func (n *negNode) eval(m Fields) value { return negate(n.x.eval(m)) }

func negate(v value) value {
	switch v.k {
	case kInt:
		return value{k: kInt, i: -v.i}
	case kFloat:
		return value{k: kFloat, f: -v.f}
	}
	return unknown
}

type plusNode struct{ x node }

func (n *plusNode) eval(m Fields) value { return plus(n.x.eval(m)) }

func plus(v value) value {
	if v.numeric() {
		return v
	}
	return unknown
}

type isNullNode struct {
	x   node
	not bool
}

func (n *isNullNode) eval(m Fields) value {
	return boolValue((n.x.eval(m).k == kNull) != n.not)
}

// betweenNode is x BETWEEN lo AND hi, that is x >= lo AND x <= hi.
type betweenNode struct {
	x, lo, hi node
	not       bool
}

func (n *betweenNode) eval(m Fields) value {
	x := n.x.eval(m)
	if x.k == kNull {
		return unknown
	}
	r := compare(opGe, x, n.lo.eval(m))
	if r.k != kBool || r.b { // FALSE decides the AND
		r2 := compare(opLe, x, n.hi.eval(m))
		if r2.k != kBool || !r2.b {
			r = r2
		}
	}
	if n.not {
		return not(r)
	}
	return r
}

// inNode is x IN (a, b, ...), that is x = a OR x = b OR ...
type inNode struct {
	x    node
	list []node
	not  bool
}

func (n *inNode) eval(m Fields) value {
	x := n.x.eval(m)
	if x.k == kNull {
		return unknown
	}
	r := vFalse
	for _, e := range n.list {
		switch v := compare(opEq, x, e.eval(m)); {
		case v.k == kNull:
			r = unknown
		case v.b:
			r = vTrue
		}
		if r.b {
			break
		}
	}
	if n.not {
		return not(r)
	}
	return r
}

type likeNode struct {
	x   node
	pat *likePattern
	not bool
}

func (n *likeNode) eval(m Fields) value {
	x := n.x.eval(m)
	if x.k != kString {
		return unknown
	}
	return boolValue(n.pat.match(x.s) != n.not)
}

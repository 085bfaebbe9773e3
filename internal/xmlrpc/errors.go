package xmlrpc

import (
	"errors"
	"fmt"
	"strings"
)

// ErrParse is wrapped by every decoder error caused by malformed XML or by
// a document that is well-formed but not the XML-RPC document expected. A
// server answers such a request with fault -32700.
var ErrParse = errors.New("xmlrpc: malformed document")

// ErrLimit is wrapped by decoder errors caused by a document that exceeds
// one of the Limits.
var ErrLimit = errors.New("xmlrpc: document exceeds a decoder limit")

// ErrRange is wrapped, along with ErrParse, by the decoder error for a
// number that its element cannot hold: a <double> that is NaN or infinite
// (Python writes float("nan") as "nan") or beyond float64, an <int> beyond
// int64. The decoder reports it only when the rest of the document is
// well-formed (the first such number, if there are several), and
// DecodeCall then returns the method name with it: the call is
// well-formed and only a value is wrong, which a server answers as
// invalid params rather than as a parse error.
var ErrRange = errors.New("xmlrpc: number out of range")

// Defaults of Limits, and the bound on method names.
const (
	DefaultMaxDepth  = 32
	DefaultMaxValues = 1_000_000
	MaxMethodName    = 128
)

// encodeMaxDepth bounds the nesting the encoder follows, so that a cyclic
// tree is an error instead of a stack overflow.
const encodeMaxDepth = 1000

// Limits bounds the work and memory of decoding one document. A zero (or
// negative) field takes its default. The size of the body is not bounded
// here: wrap the reader (an HTTP handler uses http.MaxBytesReader).
type Limits struct {
	// MaxDepth bounds the nesting of structs and arrays: a scalar param is
	// at depth 0, an array param at depth 1, a struct in it at depth 2.
	// The default is DefaultMaxDepth (32).
	MaxDepth int
	// MaxValues bounds the number of <value> elements decoded in total,
	// containers included. The default is DefaultMaxValues (1,000,000).
	MaxValues int
}

// withDefaults returns l with its zero (or negative) fields set to their
// defaults.
func (l Limits) withDefaults() Limits {
	if l.MaxDepth <= 0 {
		l.MaxDepth = DefaultMaxDepth
	}
	if l.MaxValues <= 0 {
		l.MaxValues = DefaultMaxValues
	}
	return l
}

// Error is a decoder error. It says what went wrong, at which value (as a
// path like params[0].specs[2].priority) and where in the input. It wraps
// its kind (ErrParse or ErrLimit; none for a read error) and its cause, if
// any, so errors.Is and errors.As see both.
type Error struct {
	kind      error
	path      string
	msg       string
	cause     error
	line, col int
	rng       bool // a number out of range: wraps ErrRange too
}

// Error formats the error as "xmlrpc: PATH: MSG: CAUSE (line L, col C)",
// leaving out the parts that are empty.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("xmlrpc: ")
	if e.path != "" {
		b.WriteString(e.path)
		b.WriteString(": ")
	}
	b.WriteString(e.msg)
	if e.cause != nil {
		b.WriteString(": ")
		b.WriteString(e.cause.Error())
	}
	if e.line > 0 {
		fmt.Fprintf(&b, " (line %d, col %d)", e.line, e.col)
	}
	return b.String()
}

// Unwrap returns the kind and the cause of the error, and ErrRange for a
// number out of range.
func (e *Error) Unwrap() []error {
	var errs []error
	if e.kind != nil {
		errs = append(errs, e.kind)
	}
	if e.rng {
		errs = append(errs, ErrRange)
	}
	if e.cause != nil {
		errs = append(errs, e.cause)
	}
	return errs
}

// Fault is a fault response, as DecodeResponse returns it: the error a
// server reports for a call.
type Fault struct {
	Code   int
	String string
}

// Error formats the fault as "xmlrpc: fault CODE: STRING".
func (f *Fault) Error() string {
	return fmt.Sprintf("xmlrpc: fault %d: %s", f.Code, f.String)
}

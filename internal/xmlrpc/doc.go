// Package xmlrpc is drover's XML-RPC codec: it reads and writes XML-RPC
// documents (method calls, responses and faults) as trees of plain Go
// values. It knows nothing of drover's wire types; package rpcapi maps its
// Go types onto trees and serves and calls methods over HTTP.
//
// A tree is made of these types, and only these:
//
//	int64            <int>, <i4>, <i8>
//	bool             <boolean>
//	string           <string>, or text directly inside <value>
//	float64          <double>
//	time.Time        <dateTime.iso8601>, always in UTC
//	[]byte           <base64>
//	map[string]any   <struct>
//	[]any            <array>
//	nil              <nil/> (the allow_none extension of Python and Apache)
//
// The encoders also take int, as int64.
//
// [DecodeCall] reads a request, [DecodeResponse] a response or a fault
// (returned as a *[Fault] error); [EncodeCall], [EncodeResponse] and
// [EncodeFault] write them. [Limits] bounds the work of decoding one
// document; its zero value means the defaults. [Path], [FieldPath],
// [IndexPath], [TypeName] and [QuoteShort] let a layer that maps trees
// onto Go values word its errors as the decoder words its own.
//
// Decisions, beyond what the XML-RPC specification says:
//
//   - The decoder is strict. Unknown elements, attributes other than
//     namespace declarations, text where only elements belong, a second
//     root element, content after the root, DTDs (<!DOCTYPE ...>) and any
//     entity other than the five XML predefined ones are errors. Comments
//     are ignored. Only UTF-8 input is accepted. A character reference must
//     name a character XML 1.0 allows: &#0; and &#xD800; (a surrogate) are
//     errors.
//   - Whitespace between elements is ignored. Text directly inside <value>
//     is a string kept exactly, whitespace included; <value></value> and
//     <value/> are "".
//   - The text of <int>, <boolean>, <double> and <dateTime.iso8601> is
//     trimmed of surrounding XML whitespace before parsing; the text of
//     <string> and of struct member names is kept exactly; all whitespace
//     inside <base64> is ignored.
//   - <int> and <i4> take the whole int64 range, like <i8> (Python's own
//     decoder does the same); beyond int64 is an error. <nil> and <i8> are
//     accepted in any XML namespace, so Apache's <ex:nil/> and <ex:i8> work.
//   - A double is a decimal number with an optional exponent ("1.5",
//     "-2e-07"). NaN and infinities are refused both ways: XML-RPC cannot
//     carry them and other peers cannot read them. The decoder refuses
//     them (and numbers beyond float64 or int64) with ErrRange, once it
//     has read the rest of the document, so that a server can tell a bad
//     value in a well-formed call from a malformed call.
//   - A dateTime is YYYYMMDD or YYYY-MM-DD, "T", hh:mm:ss or hhmmss, an
//     optional fraction of up to 9 digits, and an optional "Z" or ±hh:mm /
//     ±hhmm offset. Without an offset it is taken as UTC. The decoded time
//     is converted to UTC and must fall in the years 0000 to 9999.
//   - The method name is trimmed of surrounding whitespace, then must be 1
//     to 128 characters of [A-Za-z0-9_.:/].
//   - A response holds exactly one param. A fault's value is a struct
//     holding faultCode (an int) and faultString (a string); other members
//     are ignored.
//   - Decoded arrays, structs, base64 and the params list are never nil,
//     only empty.
//   - The encoder writes ints in the int32 range as <int> and the others
//     as <i8>, which Python reads (it refuses big values in <int>).
//   - The encoder writes times as 20060102T15:04:05 in UTC, dropping any
//     fraction of a second: Python's decoder reads only that form.
//   - XML 1.0 cannot carry every string. The encoder replaces invalid UTF-8
//     and the characters XML 1.0 forbids (control characters other than
//     tab, newline and carriage return, U+FFFE and U+FFFF) with U+FFFD. It
//     writes a carriage return as &#xD; so that the reader's line-end
//     normalisation does not turn it into a newline. Struct member names
//     are escaped the same way; two names that become equal are an error.
//
// The decoder reads the whole body into memory first, then cuts it into
// tokens with a scanner of its own (scan.go) that checks well-formedness
// as encoding/xml does, without copying names or text. A reference decoder
// built on encoding/xml lives in the tests; FuzzDecodeCallDiff requires
// both to agree.
package xmlrpc

package conf

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/BurntSushi/toml"
)

// Error is a problem in a configuration file. Every error that Parse* and
// Load* report about a file's content is an *Error.
type Error struct {
	// File is the file's name as given to Parse* or Load*.
	File string
	// Line is the line of the problem, counted from 1; 0 when the problem
	// is with the file as a whole.
	Line int
	// Col is the column of a TOML syntax error, counted from 1; 0 for every
	// other error.
	Col int
	// Key is the dotted key the problem is about, as the user would write
	// it, with array elements numbered from 1: "heartbeat_interval",
	// "commands.sleep.argv", "job[2].priority". It is empty for syntax
	// errors.
	Key string
	// Msg says what is wrong.
	Msg string
	// Err is the underlying error, if any: a toml.ParseError for syntax
	// errors, the error of a library Validate method, an os error.
	Err error
}

// Error formats e as "file:line: key: message", or "file:line:col: message"
// for syntax errors; parts that are unknown are left out.
func (e *Error) Error() string {
	s := e.File
	if e.Line > 0 {
		s += ":" + strconv.Itoa(e.Line)
		if e.Col > 0 {
			s += ":" + strconv.Itoa(e.Col)
		}
	}
	if e.Key != "" {
		s += ": " + e.Key
	}
	return s + ": " + e.Msg
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// decoder turns the values of one parsed file into typed values, collecting
// an *Error for each problem.
type decoder struct {
	file  string
	lines map[string]int
	errs  []*Error
}

// parse parses data with the toml library. A syntax error comes back as an
// *Error at the library's position.
func parse(name string, data []byte) (map[string]any, *decoder, error) {
	var root map[string]any
	if _, err := toml.Decode(string(data), &root); err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			line, col := syntaxPos(data, pe.Position)
			return nil, nil, &Error{File: name, Line: line, Col: col, Msg: pe.Message, Err: err}
		}
		return nil, nil, &Error{File: name, Msg: err.Error(), Err: err}
	}
	return root, &decoder{file: name, lines: indexLines(string(data))}, nil
}

// syntaxPos returns the line and column (in characters) of a syntax
// error. It counts them from the error's byte offset: in v1.6.0 the
// library's own line and column are one off when the offset is at the
// start or the end of a line.
func syntaxPos(data []byte, pos toml.Position) (line, col int) {
	if pos.Start < 0 || pos.Start > len(data) || pos.Line == 0 {
		return pos.Line, pos.Col
	}
	before := data[:pos.Start]
	start := bytes.LastIndexByte(before, '\n') + 1
	return 1 + bytes.Count(before, []byte("\n")), 1 + utf8.RuneCount(before[start:])
}

// line returns the line of p, or of its nearest ancestor with a known line.
func (d *decoder) line(p path) int {
	for ; len(p) > 0; p = p[:len(p)-1] {
		if n, ok := d.lines[p.id()]; ok {
			return n
		}
	}
	return 0
}

// errorf records a problem with the value at p.
func (d *decoder) errorf(p path, format string, args ...any) {
	d.errs = append(d.errs, &Error{File: d.file, Line: d.line(p), Key: p.String(), Msg: fmt.Sprintf(format, args...)})
}

// wrap records err, which is about the value at p.
func (d *decoder) wrap(p path, err error) {
	d.errs = append(d.errs, &Error{File: d.file, Line: d.line(p), Key: p.String(), Msg: err.Error(), Err: err})
}

// err returns the first problem recorded, by line and then key, or nil.
func (d *decoder) err() error {
	if len(d.errs) == 0 {
		return nil
	}
	return slices.MinFunc(d.errs, func(a, b *Error) int {
		return cmp.Or(cmp.Compare(a.Line, b.Line), cmp.Compare(a.Key, b.Key), cmp.Compare(a.Msg, b.Msg))
	})
}

// unknown records the key at p as unknown, suggesting the closest of the
// keys its table accepts.
func (d *decoder) unknown(p path, known []string) {
	k := p[len(p)-1]
	best, dist := "", 3
	for _, c := range known {
		n := editDistance(strings.ToLower(k), c)
		if len(k) >= 3 && strings.HasPrefix(c, k) {
			n = min(n, 2) // prio for priority
		}
		if n < dist {
			best, dist = c, n
		}
	}
	if best != "" {
		d.errorf(p, "unknown key (did you mean %q?)", best)
		return
	}
	d.errorf(p, "unknown key")
}

// editDistance is the Levenshtein distance between a and b, for
// suggestions; it gives up (returns 99) on long keys.
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 99
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			sub := prev[j-1]
			if a[i-1] != b[j-1] {
				sub++
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, sub)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

package conf

import (
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
)

// path names one value in a TOML document: table keys and array indexes
// from the root down. Index segments start with indexMark and hold the
// index counted from 0.
type path []string

const indexMark = "\x00#"

// key returns p extended by the table keys k.
func (p path) key(k ...string) path {
	return append(p[:len(p):len(p)], k...)
}

// index returns p extended by the array index i (counted from 0).
func (p path) index(i int) path {
	return append(p[:len(p):len(p)], indexMark+strconv.Itoa(i))
}

// id returns a string that identifies p as a map key.
func (p path) id() string {
	return strings.Join(p, "\x00.")
}

// String renders p the way a user writes it, numbering array elements from
// 1: job[2].args.seconds, commands."my cmd".argv[1].
func (p path) String() string {
	var b strings.Builder
	for i, s := range p {
		if n, ok := strings.CutPrefix(s, indexMark); ok {
			k, _ := strconv.Atoi(n)
			b.WriteString("[" + strconv.Itoa(k+1) + "]")
			continue
		}
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(toml.Key{s}.String())
	}
	return b.String()
}

package xmlrpc

import (
	"fmt"
	"strconv"
	"time"
	"unicode"
	"unicode/utf8"
)

// FieldPath returns the path of the member name of the value at path, as
// errors show it: path.name, or path["name"] when name is not a plain
// identifier.
func FieldPath(path, name string) string {
	plain := name != ""
	for _, r := range name {
		if !(r == '_' || r == '-' || r < utf8.RuneSelf && (unicode.IsLetter(r) || unicode.IsDigit(r))) {
			plain = false
			break
		}
	}
	if !plain {
		return path + "[" + strconv.Quote(name) + "]"
	}
	if path == "" {
		return name
	}
	return path + "." + name
}

// IndexPath returns the path of element i of the value at path: path[i].
func IndexPath(path string, i int) string {
	return path + "[" + strconv.Itoa(i) + "]"
}

// Path is the path of a value inside a tree, for error messages: the
// root, then the member names and indexes below it. It is kept as a stack
// while a walk descends, and formatted only for an error.
type Path struct {
	Root  string
	steps []pathStep
}

// pathStep is a member name, or an index if index is not -1.
type pathStep struct {
	name  string
	index int
}

// String formats the path as FieldPath and IndexPath do.
func (p *Path) String() string {
	s := p.Root
	for _, st := range p.steps {
		if st.index >= 0 {
			s = IndexPath(s, st.index)
		} else {
			s = FieldPath(s, st.name)
		}
	}
	return s
}

// PushIndex extends the path with an index.
func (p *Path) PushIndex(i int) {
	p.steps = append(p.steps, pathStep{index: i})
}

// PushMember extends the path with a member name.
func (p *Path) PushMember(name string) {
	p.steps = append(p.steps, pathStep{name: name, index: -1})
}

// Pop drops the last step of the path.
func (p *Path) Pop() {
	p.steps = p.steps[:len(p.steps)-1]
}

// reset empties the path, keeping its memory.
func (p *Path) reset() {
	p.Root = ""
	clear(p.steps)
	p.steps = p.steps[:0]
}

// TypeName names the XML-RPC type of a tree value, for error messages:
// "int", "struct", and so on.
func TypeName(v any) string {
	switch v.(type) {
	case nil:
		return "nil"
	case bool:
		return "boolean"
	case int, int64:
		return "int"
	case float64:
		return "double"
	case string:
		return "string"
	case []byte:
		return "base64"
	case time.Time:
		return "dateTime"
	case map[string]any:
		return "struct"
	case []any:
		return "array"
	}
	return fmt.Sprintf("%T", v)
}

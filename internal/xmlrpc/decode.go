package xmlrpc

// This file is the document grammar: a methodCall, or a methodResponse
// holding one param or a fault, around the values value.go reads.

import "io"

// DecodeCall parses an XML-RPC methodCall from r. It returns the method
// name and the params as trees (see the package comment for the types);
// params is empty, not nil, when the call has none. It reads r to the end
// first, then parses the body in memory.
//
// Errors wrap ErrParse for malformed or unexpected input and ErrLimit when
// the request exceeds lim (whose zero fields take their defaults). An
// error from r itself, such as *http.MaxBytesError, is wrapped and wraps
// neither sentinel. An error that wraps ErrRange (a number out of range in
// an otherwise well-formed call) comes with the method name; any other
// error with "".
func DecodeCall(r io.Reader, lim Limits) (method string, params []any, err error) {
	p := newParser()
	defer p.release()
	if err := p.start(r, lim, "request"); err != nil {
		return "", nil, err
	}
	return p.call()
}

// DecodeResponse parses an XML-RPC methodResponse from r and returns the
// tree of its one param. A fault response is returned as a *Fault error.
// Other errors are as for DecodeCall.
func DecodeResponse(r io.Reader, lim Limits) (any, error) {
	p := newParser()
	defer p.release()
	if err := p.start(r, lim, "response"); err != nil {
		return nil, err
	}
	return p.response()
}

// root reads the prolog of the document, up to the start tag of its root
// element, which must be want.
func (p *parser) root(want string) error {
	for {
		if err := p.next(true); err != nil {
			return err
		}
		switch {
		case p.tok == tokEOF:
			return p.fail(ErrParse, "no <%s> element", want)
		case p.tok == tokText:
			if p.span.text {
				return p.fail(ErrParse, "unexpected text %s before <%s>", QuoteShort(p.spanString(p.span)), want)
			}
			continue
		case p.tok != tokStart: // the scanner reports a stray end tag itself; be safe anyway
			return p.fail(ErrParse, "unexpected end tag before <%s>", want)
		case !p.is(want):
			return p.fail(ErrParse, "root element is %s, want <%s>", p.tagOf(p.name), want)
		}
		return nil
	}
}

// epilog reads what follows the end tag of the root element elem: nothing
// but whitespace and comments up to the end.
func (p *parser) epilog(elem string) error {
	for {
		if err := p.next(true); err != nil {
			return err
		}
		switch p.tok {
		case tokEOF:
			return nil
		case tokText:
			if p.span.text {
				return p.fail(ErrParse, "trailing text %s after </%s>", QuoteShort(p.spanString(p.span)), elem)
			}
		case tokStart:
			return p.fail(ErrParse, "second root element %s after </%s>", p.tagOf(p.name), elem)
		}
	}
}

// call parses a whole document holding one methodCall.
func (p *parser) call() (string, []any, error) {
	if err := p.root("methodCall"); err != nil {
		return "", nil, err
	}
	method, err := p.methodName()
	if err != nil {
		return "", nil, err
	}
	params := []any{}
	if err := p.child("methodCall"); err != nil {
		return "", nil, err
	}
	if p.tok == tokStart {
		if !p.is("params") {
			return "", nil, p.fail(ErrParse, "unexpected element %s in <methodCall>", p.tagOf(p.name))
		}
		p.path.Root = "params"
		if params, err = p.params(); err != nil {
			return "", nil, err
		}
		p.path.Root = ""
		if err := p.expectEnd("methodCall"); err != nil {
			return "", nil, err
		}
	}
	if err := p.epilog("methodCall"); err != nil {
		return "", nil, err
	}
	if p.rangeErr != nil {
		return method, nil, p.rangeErr
	}
	return method, params, nil
}

// methodName parses the <methodName> element of a methodCall.
func (p *parser) methodName() (string, error) {
	if err := p.expectStart("methodCall", "methodName"); err != nil {
		return "", err
	}
	p.path.Root = "methodName"
	raw, err := p.text("methodName")
	if err != nil {
		return "", err
	}
	method := string(trimSpace(raw))
	if !validMethodName(method) {
		return "", p.fail(ErrParse, "bad method name %s: want 1 to %d characters of A-Z a-z 0-9 _ . : /", QuoteShort(method), MaxMethodName)
	}
	p.path.Root = ""
	return method, nil
}

// params parses the content of <params>, after its start tag.
func (p *parser) params() ([]any, error) {
	base := len(p.scratch)
	for {
		if err := p.child("params"); err != nil {
			return nil, err
		}
		if p.tok != tokStart {
			return p.collect(base), nil
		}
		p.path.PushIndex(len(p.scratch) - base)
		if !p.is("param") {
			return nil, p.fail(ErrParse, "unexpected element %s in <params>", p.tagOf(p.name))
		}
		v, err := p.valueIn("param", 0)
		if err != nil {
			return nil, err
		}
		p.path.Pop()
		p.scratch = append(p.scratch, v)
	}
}

// response parses a whole document holding one methodResponse.
func (p *parser) response() (any, error) {
	if err := p.root("methodResponse"); err != nil {
		return nil, err
	}
	if err := p.child("methodResponse"); err != nil {
		return nil, err
	}
	var v any
	var fault *Fault
	var err error
	switch {
	case p.tok != tokStart:
		return nil, p.fail(ErrParse, "missing <params> or <fault> in <methodResponse>")
	case p.is("params"):
		p.path.Root = "params"
		v, err = p.responseParams()
	case p.is("fault"):
		p.path.Root = "fault"
		fault, err = p.fault()
	default:
		return nil, p.fail(ErrParse, "unexpected element %s in <methodResponse>, want <params> or <fault>", p.tagOf(p.name))
	}
	if err != nil {
		return nil, err
	}
	p.path.Root = ""
	if err := p.expectEnd("methodResponse"); err != nil {
		return nil, err
	}
	if err := p.epilog("methodResponse"); err != nil {
		return nil, err
	}
	if p.rangeErr != nil {
		return nil, p.rangeErr
	}
	if fault != nil {
		return nil, fault
	}
	return v, nil
}

// responseParams parses the content of the <params> of a response, after
// its start tag: exactly one param.
func (p *parser) responseParams() (any, error) {
	params, err := p.params()
	if err != nil {
		return nil, err
	}
	if len(params) != 1 {
		return nil, p.fail(ErrParse, "a response holds one param, not %d", len(params))
	}
	return params[0], nil
}

// fault parses the content of <fault>, after its start tag, up to its end
// tag: a struct of faultCode and faultString.
func (p *parser) fault() (*Fault, error) {
	v, err := p.valueIn("fault", 0)
	if err != nil {
		return nil, err
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, p.fail(ErrParse, "want a struct in <fault>, got %s", TypeName(v))
	}
	code, okCode := m["faultCode"].(int64)
	msg, okMsg := m["faultString"].(string)
	if !okCode || !okMsg {
		return nil, p.fail(ErrParse, "want a struct of faultCode (int) and faultString (string) in <fault>")
	}
	return &Fault{Code: int(code), String: msg}, nil
}

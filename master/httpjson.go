package master

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/drover/drover/internal/bodylimit"
	"github.com/drover/drover/rpcapi"
)

// The JSON API's plumbing: errors as JSON replies with their HTTP status,
// query parameters checked by name, paging, and bodies decoded strictly.

// apiHandler turns a handler's error into a JSON error reply.
type apiHandler func(http.ResponseWriter, *http.Request) error

// ServeHTTP replies; an error reply reaches a client that sends its
// whole body before it reads (bodylimit).
func (h apiHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	bodylimit.Serve(w, r, h.serve)
}

func (h apiHandler) serve(w http.ResponseWriter, r *http.Request) {
	if err := h(w, r); err != nil {
		status, code := errorStatus(err)
		writeError(w, status, code, errorMessage(err))
	}
}

// errorStatus maps an error to its HTTP status and code.
func errorStatus(err error) (int, string) {
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return http.StatusRequestEntityTooLarge, "too_large"
	case errors.Is(err, ErrConflict):
		return http.StatusConflict, "conflict"
	case errors.Is(err, rpcapi.ErrNotFound), errors.Is(err, rpcapi.ErrUnknownWorker):
		return http.StatusNotFound, "not_found"
	case errors.Is(err, rpcapi.ErrBadRequest):
		return http.StatusBadRequest, "bad_request"
	case errors.Is(err, rpcapi.ErrUnavailable):
		return http.StatusServiceUnavailable, "unavailable"
	case errors.Is(err, rpcapi.ErrForbidden):
		return http.StatusForbidden, "forbidden"
	case errors.Is(err, rpcapi.ErrUnauthorized):
		return http.StatusUnauthorized, "unauthorized"
	}
	return http.StatusInternalServerError, "internal"
}

// errorMessage is err's text without the sentinel's own prefix, which the
// code already says.
func errorMessage(err error) string {
	msg := err.Error()
	for _, s := range []error{ErrConflict, rpcapi.ErrNotFound, rpcapi.ErrUnknownWorker, rpcapi.ErrBadRequest, rpcapi.ErrUnavailable,
		rpcapi.ErrForbidden, rpcapi.ErrUnauthorized} {
		if rest, ok := strings.CutPrefix(msg, s.Error()+": "); ok {
			return rest
		}
	}
	return msg
}

// apiError is the body of every error reply.
type apiError struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	WriteAPIError(w, status, code, msg)
}

// WriteAPIError writes the JSON API's error body (docs/api.md) with
// status: {"error": {"code": code, "message": msg}}.
func WriteAPIError(w http.ResponseWriter, status int, code, msg string) {
	var e apiError
	e.Error.Code, e.Error.Message = code, msg
	writeJSON(w, status, e)
}

// writeJSON sends v with status. It returns nil: once the status is sent, a
// failed write (the client went away) cannot be answered any more.
func writeJSON(w http.ResponseWriter, status int, v any) error {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
	return nil
}

// queryParams returns r's query, refusing names not in known and repeated
// names, so a misspelt filter is an error instead of a silent match-all.
func queryParams(r *http.Request, known ...string) (url.Values, error) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, fmt.Errorf("%w: bad query string: %v", rpcapi.ErrBadRequest, err)
	}
	for name, vs := range q {
		if !slices.Contains(known, name) {
			if len(known) == 0 {
				return nil, fmt.Errorf("%w: unknown parameter %q (this endpoint takes none)", rpcapi.ErrBadRequest, name)
			}
			return nil, fmt.Errorf("%w: unknown parameter %q (known: %s)", rpcapi.ErrBadRequest, name, strings.Join(known, ", "))
		}
		if len(vs) > 1 {
			return nil, fmt.Errorf("%w: parameter %q given %d times", rpcapi.ErrBadRequest, name, len(vs))
		}
	}
	return q, nil
}

// paging reads the paging parameters every listing takes: order (desc or
// asc), limit (1 to MaxPageSize, default DefaultPageSize) and cursor.
func paging(p url.Values) (limit int, asc bool, cursor string, err error) {
	if s := p.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > MaxPageSize {
			return 0, false, "", fmt.Errorf("%w: limit %q: want 1..%d", rpcapi.ErrBadRequest, s, MaxPageSize)
		}
		limit = n
	}
	limit, asc, err = pageArgs(limit, p.Get("order"))
	return limit, asc, p.Get("cursor"), err
}

// bounded refuses a request whose Content-Length is over
// max_request_body as soon as its headers are read, without reading the
// body or waiting for anything (413), and closes the connection after
// the reply (and the rest of the body, bodylimit); a body of unknown length is bounded as it is read (decodeBody).
func (a httpAPI) bounded(h func(http.ResponseWriter, *http.Request) error) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		if r.ContentLength > a.maxBody {
			w.Header().Set("Connection", "close")
			return fmt.Errorf("body over %d bytes: %w", a.maxBody, &http.MaxBytesError{Limit: a.maxBody})
		}
		return h(w, r)
	}
}

// decodeBody decodes a request's body, at most max_request_body, into v:
// exactly one JSON value, no unknown members (numbers as json.Number with
// numbers). want says what an empty body should have held.
func (a httpAPI) decodeBody(w http.ResponseWriter, r *http.Request, v any, numbers bool, want string) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, a.maxBody))
	dec.DisallowUnknownFields()
	if numbers {
		dec.UseNumber()
	}
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("%w: empty body: want %s", rpcapi.ErrBadRequest, want)
		}
		return badJSON(err)
	}
	var extra json.RawMessage
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		if err == nil {
			err = errors.New("more than one JSON value")
		}
		return badJSON(err)
	}
	return nil
}

func badJSON(err error) error {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return fmt.Errorf("body over %d bytes: %w", tooBig.Limit, err)
	}
	return fmt.Errorf("%w: malformed JSON body: %s", rpcapi.ErrBadRequest, strings.TrimPrefix(err.Error(), "json: "))
}

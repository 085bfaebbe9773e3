package rpcapi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"reflect"
	"slices"
	"strings"

	"github.com/drover/drover/internal/bodylimit"
	"github.com/drover/drover/internal/xmlrpc"
)

// XMLRPCPath is where XML-RPC is served.
const XMLRPCPath = "/RPC2"

// DefaultMaxBody is the default limit on an XML-RPC request body.
const DefaultMaxBody = 4 << 20

// XML-RPC fault codes. The positive ones carry the wire contract's error
// codes (see Error); the negative ones are the customary codes for
// protocol-level faults.
const (
	FaultUnknownWorker  = 1
	FaultNotFound       = 2
	FaultBadRequest     = 3
	FaultUnavailable    = 4
	FaultInternal       = 5
	FaultUnauthorized   = 6      // a missing or wrong worker secret (a missing or wrong token gets HTTP 401 before any XML)
	FaultForbidden      = 7      // the token's role may not call the method
	FaultNotLeader      = 8      // a standby master: call the leader (the text may name it)
	FaultParse          = -32700 // the body is not a well-formed methodCall
	FaultMethodNotFound = -32601
	FaultInvalidParams  = -32602 // wrong number or types of params
)

var faultCodes = map[string]int{
	ErrUnknownWorker.Code: FaultUnknownWorker,
	ErrNotFound.Code:      FaultNotFound,
	ErrBadRequest.Code:    FaultBadRequest,
	ErrUnavailable.Code:   FaultUnavailable,
	ErrInternal.Code:      FaultInternal,
	ErrUnauthorized.Code:  FaultUnauthorized,
	ErrForbidden.Code:     FaultForbidden,
	ErrNotLeader.Code:     FaultNotLeader,
}

// XMLRPCOptions bounds what the XML-RPC handler accepts. Zero fields mean
// the defaults.
type XMLRPCOptions struct {
	// MaxBody is the largest request body; bigger gets HTTP 413.
	// Default DefaultMaxBody (4 MiB).
	MaxBody int64
	// MaxDepth bounds the nesting of structs and arrays. Default 32.
	MaxDepth int
}

// xmlMethod is one XML-RPC method bound to a contract call.
type xmlMethod struct {
	name string
	help string
	// call decodes the params into the args type, calls the API and
	// returns the reply.
	call func(ctx context.Context, params []any) (any, error)
}

// bind makes the method for a contract call with args A and reply R. Its
// help is desc followed by the members of A and R (methodHelp).
func bind[A, R any](name, desc string, fn func(context.Context, *A, *R) error) xmlMethod {
	help := methodHelp(desc, reflect.TypeFor[A](), reflect.TypeFor[R]())
	return xmlMethod{name: name, help: help, call: func(ctx context.Context, params []any) (any, error) {
		args := new(A)
		switch len(params) {
		case 0:
		case 1:
			if err := wireToGo(params[0], args, "params[0]"); err != nil {
				return nil, &paramsError{err}
			}
		default:
			return nil, &paramsError{fmt.Errorf("takes one struct param, got %d params", len(params))}
		}
		reply := new(R)
		if err := fn(ctx, args, reply); err != nil {
			return nil, err
		}
		return reply, nil
	}}
}

// paramsError marks params that do not fit the method (fault -32602).
type paramsError struct{ err error }

func (e *paramsError) Error() string { return e.err.Error() }

func masterMethods(m MasterAPI) []xmlMethod {
	return []xmlMethod{
		bind("register_worker", "Register a worker; send the result's secret with every later call for its worker_id.", m.Register),
		bind("heartbeat", "Beat: status is ok, unknown (register again) or drain; stop and drop what cancel lists.", m.Heartbeat),
		bind("task_complete", "Report finished attempts.", m.Complete),
		bind("logout_worker", "Leave cleanly; jobs still leased to the worker are requeued.", m.Logout),
		bind("get_master_status", "Counts by state, workers, the master's version, and what needs attention.", m.Status),
		bind("submit_jobs", "Submit a batch of jobs; one invalid spec fails the whole call.", m.Submit),
		bind("get_job", "One job with its attempts and timeline, and why a pending one waits.", m.GetJob),
		bind("list_jobs", "One page of jobs, newest first (order asc: oldest first); every param is optional. Pass next_cursor as cursor for the next page; \"\" is the end.", m.ListJobs),
		bind("list_workers", "One page of workers, latest registered first; every param is optional.", m.ListWorkers),
		bind("cancel_jobs", "Cancel jobs by ID, or every live job of a group.", m.Cancel),
		bind("purge_jobs", "Delete finished jobs now: state (succeeded, failed, cancelled), type, group, older_than (at least one), or all alone.", m.PurgeJobs),
		bind("wait_jobs", "Block until the jobs (and a group's jobs and its follow-up job) are final, or timeout.", m.Wait),
		bind("fetch_tasks", "Pull mode: long-poll for tasks.", m.Fetch),
		bind("list_schedules", "The cron schedules.", m.ListSchedules),
		bind("pause_schedule", "Pause a schedule; the result is the schedule.", m.PauseSchedule),
		bind("resume_schedule", "Resume a schedule; the result is the schedule.", m.ResumeSchedule),
		bind("get_group", "One group's progress, its on_done and its follow-up job.", m.GetGroup),
		bind("list_groups", "One page of groups, the latest started first; every param is optional.", m.ListGroups),
		bind("list_queues", "The lanes of pending work (type, tags, limit key), the most pending first (order asc: the fewest first), with why their jobs wait; every param is optional.", m.ListQueues),
	}
}

func workerMethods(w WorkerAPI) []xmlMethod {
	return []xmlMethod{
		bind("assign_task", "Take tasks: start each that fits and list it in accepted, list the others in rejected.", w.Assign),
		bind("cancel_task", "Stop these attempts if they run.", w.Cancel),
		bind("ping", "Self-description.", w.Ping),
		bind("read_log", "Read an attempt's full log (stream stdout or stderr).", w.ReadLog),
	}
}

// xmlHandler serves XML-RPC method calls.
type xmlHandler struct {
	opts    XMLRPCOptions
	methods map[string]xmlMethod
	names   []string
}

// NewXMLRPCHandler returns an http.Handler serving the given APIs over
// XML-RPC (mount it at XMLRPCPath). Either API may be nil. Errors become
// faults with the documented codes; a body over opts.MaxBody gets 413. A
// call's context is the request's, with its remote address (PeerAddr).
func NewXMLRPCHandler(m MasterAPI, w WorkerAPI, opts XMLRPCOptions) http.Handler {
	if opts.MaxBody <= 0 {
		opts.MaxBody = DefaultMaxBody
	}
	h := &xmlHandler{opts: opts, methods: make(map[string]xmlMethod)}
	var all []xmlMethod
	if m != nil {
		all = append(all, masterMethods(m)...)
	}
	if w != nil {
		all = append(all, workerMethods(w)...)
	}
	all = append(all, h.introspection()...)
	for _, x := range all {
		h.methods[x.name] = x
		h.names = append(h.names, x.name)
	}
	slices.Sort(h.names)
	return h
}

func (h *xmlHandler) introspection() []xmlMethod {
	nameArg := func(params []any) (string, error) {
		if len(params) != 1 {
			return "", &paramsError{fmt.Errorf("takes one string param (a method name), got %d params", len(params))}
		}
		s, ok := params[0].(string)
		if !ok {
			typ, article := xmlrpc.TypeName(params[0]), "a"
			if strings.ContainsRune("aeiou", rune(typ[0])) {
				article = "an"
			}
			return "", &paramsError{fmt.Errorf("takes one string param (a method name), got %s %s", article, typ)}
		}
		return s, nil
	}
	return []xmlMethod{
		{name: "system.listMethods", help: "The names of every method, sorted. Params none. Result [string].", call: func(ctx context.Context, params []any) (any, error) {
			return h.names, nil
		}},
		{name: "system.methodHelp", help: "A method's help: what it does, its params and its result with every member. Params a string, the method's name. Result string.", call: func(ctx context.Context, params []any) (any, error) {
			n, err := nameArg(params)
			if err != nil {
				return nil, err
			}
			if x, ok := h.methods[n]; ok {
				return x.help, nil
			}
			return nil, fmt.Errorf("%w: no method %q", ErrNotFound, n)
		}},
		{name: "system.methodSignature", help: "A method's signatures: [[result type, param types...]]. Params a string, the method's name. Result [[string]].", call: func(ctx context.Context, params []any) (any, error) {
			n, err := nameArg(params)
			if err != nil {
				return nil, err
			}
			switch {
			case n == "system.listMethods":
				return [][]string{{"array"}}, nil
			case n == "system.methodHelp":
				return [][]string{{"string", "string"}}, nil
			case n == "system.methodSignature":
				return [][]string{{"array", "string"}}, nil
			}
			if _, ok := h.methods[n]; ok {
				return [][]string{{"struct"}, {"struct", "struct"}}, nil
			}
			return nil, fmt.Errorf("%w: no method %q", ErrNotFound, n)
		}},
	}
}

func (h *xmlHandler) ServeHTTP(rw http.ResponseWriter, req *http.Request) {
	bodylimit.Serve(rw, req, h.serve) // a refusal reaches a client that sends its whole body first
}

func (h *xmlHandler) serve(rw http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodPost {
		rw.Header().Set("Allow", "POST")
		http.Error(rw, "XML-RPC takes POST", http.StatusMethodNotAllowed)
		return
	}
	if !xmlContentType(req.Header.Get("Content-Type")) {
		// A form post or a no-cors fetch from a web page can only send
		// text/plain, form or multipart bodies: refusing them keeps a page
		// from calling this endpoint through a visitor's browser.
		http.Error(rw, fmt.Sprintf("drover: XML-RPC takes Content-Type text/xml or application/xml, not %q "+
			"(web pages cannot send those to another origin, so this refuses calls a browser was tricked into)",
			req.Header.Get("Content-Type")), http.StatusUnsupportedMediaType)
		return
	}
	if req.ContentLength > h.opts.MaxBody {
		// Refused before a byte of the body is read; the connection
		// closes after the reply (and the rest of the body, bodylimit).
		rw.Header().Set("Connection", "close")
		http.Error(rw, fmt.Sprintf("request body over %d bytes", h.opts.MaxBody), http.StatusRequestEntityTooLarge)
		return
	}
	body := http.MaxBytesReader(rw, req.Body, h.opts.MaxBody)
	method, params, err := xmlrpc.DecodeCall(body, xmlrpc.Limits{MaxDepth: h.opts.MaxDepth})
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		http.Error(rw, fmt.Sprintf("request body over %d bytes", h.opts.MaxBody), http.StatusRequestEntityTooLarge)
		return
	case err != nil && !errors.Is(err, xmlrpc.ErrRange):
		h.fault(rw, FaultParse, "parse error: "+err.Error())
		return
	}
	x, ok := h.methods[method]
	if !ok {
		h.fault(rw, FaultMethodNotFound, fmt.Sprintf("no method %q (system.listMethods lists them)", method))
		return
	}
	if err := Authorize(req.Context(), method); err != nil {
		h.fault(rw, faultCodes[Code(err)], err.Error())
		return
	}
	if err != nil {
		// A well-formed call with a number out of range (a NaN or
		// infinite double, an int beyond int64): a bad value, like one
		// of the wrong type.
		h.fault(rw, FaultInvalidParams, method+": "+err.Error())
		return
	}
	reply, err := x.call(withPeer(req.Context(), req.RemoteAddr), params)
	var pe *paramsError
	switch {
	case errors.As(err, &pe):
		h.fault(rw, FaultInvalidParams, method+": "+pe.Error())
		return
	case err != nil:
		h.fault(rw, faultCodes[Code(err)], err.Error())
		return
	}
	tree, err := wireFromGo(reply)
	if err != nil {
		h.fault(rw, FaultInternal, "encode reply: "+err.Error())
		return
	}
	var buf bytes.Buffer
	if err := xmlrpc.EncodeResponse(&buf, tree); err != nil {
		h.fault(rw, FaultInternal, "encode reply: "+err.Error())
		return
	}
	rw.Header().Set("Content-Type", "text/xml; charset=utf-8")
	rw.Write(buf.Bytes())
}

// xmlContentType reports whether a Content-Type header is text/xml or
// application/xml (with any parameters), what every XML-RPC client sends.
func xmlContentType(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && (mt == "text/xml" || mt == "application/xml")
}

func (h *xmlHandler) fault(rw http.ResponseWriter, code int, msg string) {
	var buf bytes.Buffer
	xmlrpc.EncodeFault(&buf, code, msg)
	rw.Header().Set("Content-Type", "text/xml; charset=utf-8")
	rw.Write(buf.Bytes())
}

package rpcapi

import (
	"errors"
	"strings"
)

// Error is a drover error that keeps its identity across the wire: net/rpc
// flattens server errors to strings, so each carries a code that the client
// turns back into the same sentinel, and errors.Is works on both sides.
type Error struct {
	Code string
	Msg  string
}

func (e *Error) Error() string { return e.Msg }

// Sentinel errors of the wire contract, by code.
var (
	// ErrUnknownWorker: the worker ID is not registered (the master restarted
	// or reaped it). Workers re-register on it.
	ErrUnknownWorker = &Error{"unknown_worker", "rpcapi: unknown worker"}
	// ErrNotFound: no job with that ID.
	ErrNotFound = &Error{"not_found", "rpcapi: not found"}
	// ErrBadRequest: the arguments are malformed or out of range.
	ErrBadRequest = &Error{"bad_request", "rpcapi: bad request"}
	// ErrUnavailable: the node is shutting down, its store is failing, or the
	// connection to it broke. The call may be retried.
	ErrUnavailable = &Error{"unavailable", "rpcapi: unavailable"}
	// ErrUnauthorized: the call carried no token or a wrong one, or a
	// call for a worker did not carry that worker's registration secret
	// (RegisterReply.Secret).
	ErrUnauthorized = &Error{"unauthorized", "rpcapi: unauthorized"}
	// ErrForbidden: the call's token is valid but its role may not make
	// the call (docs/security.md has the table). The call changed
	// nothing.
	ErrForbidden = &Error{"forbidden", "rpcapi: forbidden"}
	// ErrNotLeader: this master is a standby: call the leader. The call
	// changed nothing. Its message names the leader when the standby
	// knows it (NewNotLeader; LeaderOf reads it back).
	ErrNotLeader = &Error{"not_leader", "rpcapi: not leader"}
	// ErrInternal: anything else.
	ErrInternal = &Error{"internal", "rpcapi: internal error"}
)

var sentinels = map[string]*Error{}

func init() {
	for _, e := range []*Error{ErrUnknownWorker, ErrNotFound, ErrBadRequest, ErrUnavailable, ErrUnauthorized, ErrForbidden, ErrNotLeader, ErrInternal} {
		sentinels[e.Code] = e
	}
}

// Code returns the wire code of err: the code of the first *Error in its
// chain, or "internal".
func Code(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ErrInternal.Code
}

const codePrefix = "drover/"

// encode turns a server error into a string that carries its code.
func encode(err error) error {
	if err == nil {
		return nil
	}
	return errors.New(codePrefix + Code(err) + ": " + err.Error())
}

// remoteError is a server error rebuilt on the client side.
type remoteError struct {
	sentinel *Error
	msg      string
}

func (e *remoteError) Error() string { return e.msg }
func (e *remoteError) Unwrap() error { return e.sentinel }

// decode rebuilds an encoded server error message.
func decode(msg string) error {
	if rest, ok := strings.CutPrefix(msg, codePrefix); ok {
		if code, text, ok := strings.Cut(rest, ": "); ok {
			if s, ok := sentinels[code]; ok {
				return &remoteError{sentinel: s, msg: text}
			}
		}
	}
	return &remoteError{sentinel: ErrInternal, msg: msg}
}

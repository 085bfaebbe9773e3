package master

import (
	"context"
	"fmt"
	"strings"

	"github.com/drover/drover/rpcapi"
)

// A job keeps who submitted it (jobs.Job.Submitter): the name of the
// token of the submit call. The master's own submits name theirs: a
// schedule's fire is "schedule:" and the schedule's name, a group's
// follow-up job has the submitter of the group's job that carried it.
// Neither can be a token's name (a token's has no ':'), so no client
// token owns a fire. With Config.ClientCancel "own" a client token
// cancels only the jobs it submitted.

type submitterKey struct{}

// withSubmitter returns ctx for a submit the master makes itself, whose
// jobs get submitter by (an empty by included).
func withSubmitter(ctx context.Context, by string) context.Context {
	return context.WithValue(ctx, submitterKey{}, by)
}

// submitterOf returns the submitter of the jobs a submit made with ctx
// creates: the one withSubmitter gave, else the name of the request's
// token ("" without tokens and for a call made in code).
func submitterOf(ctx context.Context) (string, error) {
	if by, ok := ctx.Value(submitterKey{}).(string); ok {
		return by, nil
	}
	id, err := rpcapi.IdentityFrom(ctx)
	if err != nil {
		return "", err
	}
	return id.Name, nil
}

// fireSubmitter is the Submitter of the jobs schedule name fires.
func fireSubmitter(name string) string { return "schedule:" + name }

// cancelOwner is the token a cancel acts for, when it may cancel only the
// jobs it submitted.
type cancelOwner struct {
	id rpcapi.Identity
}

// cancelOwnerOf returns the owner a cancel made with ctx is bound to, or
// nil when it may cancel any job (an admin, or client_cancel "any").
func (c *core) cancelOwnerOf(ctx context.Context) (*cancelOwner, error) {
	id, err := rpcapi.IdentityFrom(ctx)
	if err != nil {
		return nil, err
	}
	if id.Role != rpcapi.RoleClient || c.cfg.ClientCancel != ClientCancelOwn {
		return nil, nil
	}
	return &cancelOwner{id: id}, nil
}

// refuseForeign returns the refusal of a cancel that names the live jobs
// foreign, submitted by others; nil when there are none. The caller holds
// mu.
func (o *cancelOwner) refuseForeign(c *core, ids []string) error {
	var foreign []string
	for _, id := range ids {
		if j := c.job(id); j != nil && !j.State.Final() && j.Submitter != o.id.Name {
			foreign = append(foreign, fmt.Sprintf("%s (submitted by %q)", id, j.Submitter))
		}
	}
	if len(foreign) == 0 {
		return nil
	}
	more := ""
	if len(foreign) > 5 {
		more = fmt.Sprintf(" and %d more", len(foreign)-5)
		foreign = foreign[:5]
	}
	return fmt.Errorf("%w: token %q of role client may cancel only the jobs it submitted (client_cancel = %q): job %s%s; nothing was cancelled",
		rpcapi.ErrForbidden, o.id.Name, ClientCancelOwn, strings.Join(foreign, ", "), more)
}

// filterGroup returns the jobs of live, the live jobs of group g, that
// the owner submitted and the number of the others. It refuses a cancel
// that would leave every one of them. The caller holds mu.
func (o *cancelOwner) filterGroup(c *core, g string, live []string) ([]string, int, error) {
	var own []string
	for _, id := range live {
		if c.job(id).Submitter == o.id.Name {
			own = append(own, id)
		}
	}
	skipped := len(live) - len(own)
	if len(own) == 0 && skipped > 0 {
		return nil, 0, fmt.Errorf("%w: token %q of role client may cancel only the jobs it submitted (client_cancel = %q): none of the %d live jobs of group %q is its own; nothing was cancelled",
			rpcapi.ErrForbidden, o.id.Name, ClientCancelOwn, skipped, g)
	}
	return own, skipped, nil
}

package client

import (
	"strings"
	"testing"

	"github.com/drover/drover/jobs"
)

// TestWaitGroupFollowUp: WaitGroup returns once the group's follow-up job
// (then) is final too and names it; OK is false when the follow-up failed
// or could not be made (args that leave no room for its input within the
// default max_args_bytes), though every job of the group succeeded.
func TestWaitGroupFollowUp(t *testing.T) {
	for _, tr := range transports {
		t.Run(string(tr), func(t *testing.T) {
			c, ctx := echoClient(t, tr)
			group := func(g string, then jobs.Spec) []jobs.Spec {
				return []jobs.Spec{{Type: "echo", Group: g, Then: &then}, {Type: "echo", Group: g}}
			}
			specs := append(group("good", jobs.Spec{Type: "echo", Args: map[string]string{"text": "merged"}}),
				group("bad", jobs.Spec{Type: "echo", Args: map[string]string{"fail": "merge broke"}})...)
			specs = append(specs, group("refused", jobs.Spec{Type: "echo", Args: map[string]string{"x": strings.Repeat("y", 64<<10-10)}})...)
			if _, err := c.Submit(ctx, specs...); err != nil {
				t.Fatal(err)
			}

			res, err := c.WaitGroup(ctx, "good")
			if err != nil || !res.OK() || res.Then == "" || res.ThenState != jobs.Succeeded || res.Counts[jobs.Succeeded] != 3 {
				t.Fatalf("WaitGroup(good) = %+v, %v; want OK with the follow-up succeeded", res, err)
			}
			if info, err := c.Job(ctx, res.Then); err != nil || info.Job.Attempts[0].Output != "merged" {
				t.Errorf("follow-up %s: %+v, %v", res.Then, info, err)
			}
			res, err = c.WaitGroup(ctx, "bad")
			if err != nil || !res.Done || res.OK() || res.ThenState != jobs.Failed || len(res.Failed) != 1 || res.Failed[0] != res.Then {
				t.Errorf("WaitGroup(bad) = %+v, %v; want done, not OK, the follow-up failed", res, err)
			}
			res, err = c.WaitGroup(ctx, "refused")
			if err != nil || !res.Done || res.OK() || res.Then != "" || !strings.Contains(res.ThenError, "max_args_bytes") {
				t.Errorf("WaitGroup(refused) = %+v, %v; want done, not OK, with then_error", res, err)
			}
		})
	}
}

// Package client submits jobs to a remote drover master and follows them.
// It is for programs that hand work to drover (a crawler's scheduler, a web
// app, a script), not for workers: it offers only the submitter's calls.
//
// Dial names the master and returns a Client; it does not connect. The
// first call connects, and a connection that breaks (the master restarted)
// is made again by the next call. A Client is safe for concurrent use:
// over Gob, calls share one connection, and calls that find none (the
// first ones, or those after a break) wait for one dial, each until its
// own ctx ends.
// Given several masters separated by commas (a leader and its standbys),
// it follows the leader among them (see Dial).
//
//	c, err := client.Dial("127.0.0.1:7070", client.WithToken(token))
//	if err != nil {
//		return err
//	}
//	defer c.Close()
//	ids, err := c.Submit(ctx,
//		jobs.Spec{Type: "crawl", Args: map[string]string{"url": u1}, Group: "site", Retries: 3},
//		jobs.Spec{Type: "crawl", Args: map[string]string{"url": u2}, Group: "site", Retries: 3})
//	if err != nil {
//		return err
//	}
//	res, err := c.WaitGroup(ctx, "site") // until every job of the group is final, or ctx ends
//	if err != nil {
//		return err
//	}
//	if !res.OK() {
//		log.Printf("%d jobs failed: %v", res.NumFailed(), res.Failed)
//	}
//	for j, err := range c.Jobs(ctx, client.Query{Group: "site"}) {
//		if err != nil {
//			return err
//		}
//		fmt.Println(j.ID, j.State)
//	}
//
// Two transports carry the same calls: Go's net/rpc with gob (the default)
// and XML-RPC (WithTransport(XMLRPC)). Every call is bounded by its ctx and
// by the Client's call timeout (WithTimeout, default DefaultTimeout). Wait
// and WaitGroup call the master again and again, each call blocking on the
// master up to 30 s (and ending before ctx's deadline), until the jobs are
// final or ctx ends; then they return the last counts they had.
//
// Errors the master returns keep their identity across both transports:
// errors.Is(err, client.ErrNotFound) and the other sentinels of this package
// work on them. A call cut short by its context also matches ctx's error
// (context.DeadlineExceeded or context.Canceled).
package client

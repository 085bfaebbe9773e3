package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"text/tabwriter"

	"github.com/spf13/pflag"

	"github.com/drover/drover/rpcapi"
)

// The paging of the listing commands (drover jobs, workers, groups):
// newest first, --reverse for oldest first.

// pageFlags are the flags of a listing command: paging, order, and --json.
type pageFlags struct {
	fs            *pflag.FlagSet
	limit         *int
	order, cursor *string
	reverse       *bool
	all, json     *bool
}

func addPageFlags(fs *pflag.FlagSet, what string) pageFlags {
	return pageFlags{
		fs: fs,
		limit: fs.Int("limit", 0, fmt.Sprintf("`N` %s a page, 1 to %d (default %d; with --all, %d a request)",
			what, rpcapi.MaxPageSize, rpcapi.DefaultPageSize, rpcapi.MaxPageSize)),
		reverse: fs.Bool("reverse", false, "oldest first (the default is newest first)"),
		order:   fs.String("order", rpcapi.OrderDesc, "desc (newest first) or asc (oldest first, as --reverse)"),
		cursor:  fs.String("cursor", "", "start at this `cursor`, which the previous page printed"),
		all:     fs.Bool("all", false, "list every page, not only the first"),
		json:    fs.Bool("json", false, "print a JSON array"),
	}
}

// parse checks a listing command's positional arguments (none) and flags,
// and returns the page size and the order to ask for: "" for newest
// first, so that a master from before paging, which knows no order, takes
// the call.
func (p pageFlags) parse(pos []string) (limit int, order string, err error) {
	if err := noArgs(pos); err != nil {
		return 0, "", err
	}
	switch *p.order {
	case rpcapi.OrderDesc:
	case rpcapi.OrderAsc:
		order = rpcapi.OrderAsc
	default:
		return 0, "", usagef("--order %q: want desc or asc", *p.order)
	}
	if *p.reverse {
		if p.fs.Changed("order") {
			return 0, "", usagef("--reverse and --order: give one")
		}
		order = rpcapi.OrderAsc
	}
	limit, err = p.size()
	return limit, order, err
}

// size returns the page size to ask for.
func (p pageFlags) size() (int, error) {
	switch n := *p.limit; {
	case n < 0 || n > rpcapi.MaxPageSize:
		return 0, usagef("--limit %d: want 1 to %d", n, rpcapi.MaxPageSize)
	case n == 0 && *p.all:
		return rpcapi.MaxPageSize, nil
	default:
		return n, nil
	}
}

// walk calls fetch for the first page from --cursor on, or for every page
// with --all, each call with a fresh timeout; fetch prints one page and
// returns the cursor of the next. Without --all, when there is more, walk
// says on stderr, in one line, how to get it.
func (p pageFlags) walk(what string, fetch func(ctx context.Context, cursor string) (string, error)) error {
	cursor := *p.cursor
	for {
		c, cancel := ctx()
		next, err := fetch(c, cursor)
		cancel()
		if err != nil || next == "" {
			return err
		}
		if !*p.all {
			fmt.Fprintf(os.Stderr, "more %s than this page: add --cursor %s for the next page, or --all for every page\n", what, safeLine(next))
			return nil
		}
		cursor = next
	}
}

// listing runs a listing command: it checks its flags, dials the master,
// and prints the pages fetch returns (a page's items and the next cursor),
// asking for limit items in order from cursor.
func listing[T any](pos []string, conn *connFlags, p pageFlags, what string, out *pagePrinter[T],
	fetch func(c context.Context, mc rpcapi.MasterClient, limit int, order, cursor string) ([]T, string, error)) error {
	limit, order, err := p.parse(pos)
	if err != nil {
		return err
	}
	mc, err := conn.dial()
	if err != nil {
		return err
	}
	defer mc.C.Close()
	out.json = *p.json
	return out.end(p.walk(what, func(c context.Context, cursor string) (string, error) {
		items, next, err := fetch(c, mc, limit, order, cursor)
		if err != nil {
			return "", err
		}
		return next, out.page(items)
	}))
}

// pagePrinter prints a listing page by page: a table, or with --json one
// JSON array, written as the pages come so that a long listing is never
// held whole.
type pagePrinter[T any] struct {
	w      io.Writer
	json   bool
	header string
	row    func(io.Writer, *T)
	tw     *tabwriter.Writer
	n      int
}

func (p *pagePrinter[T]) page(items []T) error {
	if !p.json && p.tw == nil {
		p.tw = tabwriter.NewWriter(p.w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(p.tw, p.header)
	}
	for i := range items {
		if !p.json {
			p.row(p.tw, &items[i])
			continue
		}
		b, err := json.MarshalIndent(&items[i], "  ", "  ")
		if err != nil {
			return err
		}
		sep := ",\n  "
		if p.n == 0 {
			sep = "[\n  "
		}
		if _, err := io.WriteString(p.w, sep); err != nil {
			return err
		}
		if _, err := p.w.Write(b); err != nil {
			return err
		}
		p.n++
	}
	if p.tw != nil {
		return p.tw.Flush()
	}
	return nil
}

// end finishes the output after the last page; after an error, a JSON
// array is left open, so that a script cannot take a part for the whole.
func (p *pagePrinter[T]) end(err error) error {
	switch {
	case err != nil || !p.json:
	case p.n == 0:
		_, err = io.WriteString(p.w, "[]\n")
	default:
		_, err = io.WriteString(p.w, "\n]\n")
	}
	return err
}

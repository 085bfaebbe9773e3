package conf

import (
	"net"

	"github.com/drover/drover/cluster"
)

// Cluster is a master file's [cluster] table: the master is one member of
// a raft group (docs/ha.md). Without the table it runs alone.
type Cluster struct {
	ID         string           // id: this member's ID among Members
	RaftListen string           // raft_listen: where its raft transport listens (default its member's raft address)
	Members    []cluster.Member // members: { id, raft, rpc } each
	Join       bool             // join: join a running group (drover cluster add) instead of forming one
}

var (
	clusterKeys = []string{"id", "raft_listen", "members", "join"}
	memberKeys  = []string{"id", "raft", "rpc"}
)

// cluster decodes the [cluster] table.
func (d *decoder) cluster(p path, v any) *Cluster {
	t := d.table(p, v)
	if t == nil {
		return nil
	}
	c := &Cluster{}
	d.keys(p, t, nil, clusterKeys, func(kp path, k string, kv any) bool {
		switch k {
		case "id":
			c.ID = d.str(kp, kv)
		case "raft_listen":
			c.RaftListen = d.hostPort(kp, kv)
		case "members":
			c.Members = d.members(kp, kv)
		case "join":
			c.Join = d.boolean(kp, kv)
		default:
			return false
		}
		return true
	})
	if c.ID == "" {
		d.errorf(p, "a cluster member needs its id (one of members' ids)")
	}
	if _, ok := t["members"]; !ok {
		d.errorf(p, "a cluster needs its members: [{ id, raft, rpc }, ...], this one included")
	}
	known := false
	for _, m := range c.Members {
		known = known || m.ID == c.ID
	}
	if c.ID != "" && len(c.Members) > 0 && !known {
		d.errorf(p.key("id"), "%q is not among members' ids", c.ID)
	}
	return c
}

// members decodes the members array of tables.
func (d *decoder) members(p path, v any) []cluster.Member {
	elems := d.tableArray(p, v, "an array of tables { id, raft, rpc }")
	seen := map[string]bool{}
	var out []cluster.Member
	for i, e := range elems {
		if e == nil {
			continue // not a table: tableArray said so
		}
		ep := p.index(i)
		var m cluster.Member
		d.keys(ep, e, nil, memberKeys, func(kp path, k string, kv any) bool {
			switch k {
			case "id":
				m.ID = d.str(kp, kv)
			case "raft":
				m.Raft = d.hostPort(kp, kv)
			case "rpc":
				m.RPC = d.hostPort(kp, kv)
			default:
				return false
			}
			return true
		})
		switch {
		case m.ID == "" || m.Raft == "" || m.RPC == "":
			d.errorf(ep, "a member needs id, raft and rpc")
		case seen[m.ID]:
			d.errorf(ep.key("id"), "member id %q is given twice", m.ID)
		}
		seen[m.ID] = true
		out = append(out, m)
	}
	return out
}

// hostPort returns v as a host:port address.
func (d *decoder) hostPort(p path, v any) string {
	s := d.str(p, v)
	if _, _, err := net.SplitHostPort(s); s != "" && err != nil {
		d.errorf(p, "want host:port, got %q", s)
	}
	return s
}

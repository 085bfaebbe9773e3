package conf

import (
	"strings"
	"testing"
)

const clusterFile = `
listen = "127.0.0.1:7070"
[cluster]
id = "m1"
raft_listen = "0.0.0.0:7071"
members = [
  { id = "m1", raft = "127.0.0.1:7071", rpc = "127.0.0.1:7070" },
  { id = "m2", raft = "127.0.0.1:7081", rpc = "127.0.0.1:7080" },
  { id = "m3", raft = "127.0.0.1:7091", rpc = "127.0.0.1:7090" },
]
`

func TestClusterTable(t *testing.T) {
	m, err := ParseMaster("master.toml", []byte(clusterFile))
	if err != nil {
		t.Fatal(err)
	}
	c := m.Cluster
	if c == nil || c.ID != "m1" || c.RaftListen != "0.0.0.0:7071" || len(c.Members) != 3 ||
		c.Members[2].ID != "m3" || c.Members[2].Raft != "127.0.0.1:7091" || c.Members[2].RPC != "127.0.0.1:7090" {
		t.Fatalf("cluster: %+v", c)
	}
	if m, err := ParseMaster("master.toml", []byte(`listen = "127.0.0.1:7070"`)); err != nil || m.Cluster != nil {
		t.Fatalf("no [cluster]: %+v %v", m.Cluster, err)
	}
}

func TestClusterTableErrors(t *testing.T) {
	for _, tc := range []struct{ file, want string }{
		{"[cluster]\nmembers = [{ id = \"m1\", raft = \"h:1\", rpc = \"h:2\" }]", "needs its id"},
		{"[cluster]\nid = \"m9\"\nmembers = [{ id = \"m1\", raft = \"h:1\", rpc = \"h:2\" }]", `master.toml:2: cluster.id: "m9" is not among members' ids`},
		{"[cluster]\nid = \"m1\"\nmembers = [{ id = \"m1\", raft = \"h:1\", rpc = \"h:2\" }, { id = \"m1\", raft = \"h:3\", rpc = \"h:4\" }]", `given twice`},
		{"[cluster]\nid = \"m1\"\nmembers = [{ id = \"m1\", raft = \"nohost\", rpc = \"h:2\" }]", `want host:port, got "nohost"`},
		{"[cluster]\nid = \"m1\"\nmembers = [{ id = \"m1\", rpc = \"h:2\" }]", `a member needs id, raft and rpc`},
		{"[cluster]\nid = \"m1\"\nmembers = [{ id = \"m1\", raft = \"h:1\", rpc = \"h:2\", port = 3 }]", `port`},
		{"[cluster]\nid = \"m1\"\npeers = 3\nmembers = [{ id = \"m1\", raft = \"h:1\", rpc = \"h:2\" }]", `peers`},
		{"[cluster]\nid = \"m1\"\nmembers = [\"h:1\"]", `want a table`},
		{"[cluster]\nid = \"m1\"", `needs its members`},
	} {
		_, err := ParseMaster("master.toml", []byte(tc.file))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want an error with %q", tc.file, err, tc.want)
		}
	}
}

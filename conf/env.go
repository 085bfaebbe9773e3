package conf

import (
	"fmt"
	"strconv"

	"github.com/drover/drover/master"
	"github.com/drover/drover/worker"
)

// The environment variables that override the files. Each role has its
// own, so that a shell set up for a master does not reconfigure a worker
// started from it. A variable set to the empty string counts as unset.
const (
	// EnvMaster is the master's address for the worker (over its master
	// key) and for the CLI.
	EnvMaster = "DROVER_MASTER"
	// EnvMasterListen overrides the master's listen key.
	EnvMasterListen = "DROVER_MASTER_LISTEN"
	// EnvMasterDataDir overrides the master's data_dir key.
	EnvMasterDataDir = "DROVER_MASTER_DATA_DIR"
	// EnvMasterToken overrides the master's token and token_file keys.
	EnvMasterToken = "DROVER_MASTER_TOKEN"
	// EnvWorkerListen overrides the worker's listen key.
	EnvWorkerListen = "DROVER_WORKER_LISTEN"
	// EnvWorkerToken overrides the worker's token and token_file keys.
	EnvWorkerToken = "DROVER_WORKER_TOKEN"

	// EnvListen is the master's listen address when EnvMasterListen is
	// unset. Deprecated: use EnvMasterListen; a worker ignores it.
	EnvListen = "DROVER_LISTEN"
	// EnvDataDir is the master's data directory when EnvMasterDataDir is
	// unset. Deprecated: use EnvMasterDataDir.
	EnvDataDir = "DROVER_DATA_DIR"
)

// LookupFunc finds an environment variable; os.LookupEnv is one.
type LookupFunc func(key string) (value string, ok bool)

// envVar is the variable name over a conf key, and old, a deprecated name
// read when name is unset ("" for none).
type envVar struct{ key, name, old string }

var (
	masterEnv = []envVar{
		{"listen", EnvMasterListen, EnvListen},
		{"data_dir", EnvMasterDataDir, EnvDataDir},
		{"token", EnvMasterToken, EnvToken},
	}
	workerEnv = []envVar{
		{"master", EnvMaster, ""},
		{"listen", EnvWorkerListen, ""},
		{"token", EnvWorkerToken, EnvToken},
	}
)

// Env says what the environment did to a configuration.
type Env struct {
	// From names, for each conf key the environment set, the variable that
	// set it: "listen" → "DROVER_MASTER_LISTEN". Nil when it set none.
	From map[string]string
	// Notices are lines for the log: a deprecated variable in use, or one
	// that this role ignores.
	Notices []string
}

// apply sets each key of vars that lookup finds set from its variable,
// into dst, and says what it did.
func apply(vars []envVar, dst map[string]*string, lookup LookupFunc) Env {
	var e Env
	for _, v := range vars {
		name, val := v.name, get(lookup, v.name)
		if val == "" && v.old != "" {
			if val = get(lookup, v.old); val != "" {
				name = v.old
				e.Notices = append(e.Notices, fmt.Sprintf("$%s is deprecated for the %s key here: set $%s instead", v.old, v.key, v.name))
			}
		}
		if val != "" {
			*dst[v.key] = val
			if e.From == nil {
				e.From = map[string]string{}
			}
			e.From[v.key] = name
		}
	}
	return e
}

func get(lookup LookupFunc, name string) string {
	v, _ := lookup(name)
	return v
}

// ApplyMasterEnv sets c.Listen from DROVER_MASTER_LISTEN (else the
// deprecated DROVER_LISTEN), c.DataDir from DROVER_MASTER_DATA_DIR (else
// the deprecated DROVER_DATA_DIR) and c.Token from DROVER_MASTER_TOKEN
// (else the deprecated DROVER_TOKEN), for those lookup finds set and not
// empty, and says what it did.
func ApplyMasterEnv(c *master.Config, lookup LookupFunc) Env {
	return apply(masterEnv, map[string]*string{"listen": &c.Listen, "data_dir": &c.DataDir, "token": &c.Token}, lookup)
}

// ApplyWorkerEnv sets c.Master from DROVER_MASTER, c.Listen from
// DROVER_WORKER_LISTEN and c.Token from DROVER_WORKER_TOKEN (else the
// deprecated DROVER_TOKEN), for those lookup finds set and not empty, and
// says what it did. DROVER_LISTEN, the master's deprecated name, is not
// read: when it is set, a notice says so.
func ApplyWorkerEnv(c *worker.Config, lookup LookupFunc) Env {
	e := apply(workerEnv, map[string]*string{"master": &c.Master, "listen": &c.Listen, "token": &c.Token}, lookup)
	if get(lookup, EnvListen) != "" {
		e.Notices = append(e.Notices, fmt.Sprintf("$%s is set but a worker does not read it (it was the master's): set $%s for the worker's listen address", EnvListen, EnvWorkerListen))
	}
	return e
}

// sources records where the keys that Source answers for came from.
type sources struct {
	file  string
	lines map[string]int // key → its line in file
	env   Env
}

// sourceKeys are the keys whose lines a file's decoding keeps.
var sourceKeys = []string{"listen", "data_dir", "master", "token", "token_file"}

// keep records the lines of sourceKeys in the file d decodes, and its
// name when it sets any of them.
func (s *sources) keep(d *decoder) {
	for _, k := range sourceKeys {
		if n, ok := d.lines[path{k}.id()]; ok {
			if s.lines == nil {
				s.file, s.lines = d.file, map[string]int{}
			}
			s.lines[k] = n
		}
	}
}

// Source says where the value of key (listen, data_dir, master or token)
// came from: "$NAME" for an environment variable, "FILE:LINE" for the conf
// file, or "" for neither (the default).
func (s *sources) Source(key string) string {
	if name, ok := s.env.From[key]; ok {
		return "$" + name
	}
	if key == "token" && s.lines["token"] == 0 {
		key = "token_file"
	}
	if n, ok := s.lines[key]; ok {
		return s.file + ":" + strconv.Itoa(n)
	}
	return ""
}

// EnvNotices are the lines about the environment for the log: a
// deprecated variable in use, or one this role ignores.
func (s *sources) EnvNotices() []string { return s.env.Notices }

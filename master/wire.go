package master

import "github.com/sirupsen/logrus"

// wire is the master's side of the wire contract (rpcapi.MasterAPI): the
// calls of workers and of remote clients, over both transports
// (countingAPI counts their errors). Its methods are in the files of the
// concerns they serve (register.go, service.go, report.go, pull.go,
// submit.go, purge.go, cronapi.go, queues.go, api_workers.go).
//
// It is where the core's changes come in from outside (a submit, a
// registration, a heartbeat, a report, a fetch, a cancel), so it holds
// the core itself, and its calls work under the core's lock; beside it,
// the registry (the worker records, guarded by that lock), the dispatcher
// (a new worker's send loop) and the scheduler (the schedule calls, and
// the specs of a submit that carry a schedule). It keeps no state of its
// own. Create it with newWire; Master.Start gives it the scheduler
// (setScheduler) before anything is served. Programs that embed a master
// call its typed methods (embed.go) instead.
type wire struct {
	core  *core
	reg   *registry
	disp  *dispatcher
	sched *scheduler // set by setScheduler, before the listener opens; nil before Start
	cfg   *Config
	log   logrus.FieldLogger
}

// newWire returns the wire service of core c and its parts.
func newWire(c *core, reg *registry, disp *dispatcher, cfg *Config, log logrus.FieldLogger) *wire {
	return &wire{core: c, reg: reg, disp: disp, cfg: cfg, log: log}
}

// setScheduler gives the wire the master's scheduler. Start calls it
// before any call is served.
func (api *wire) setScheduler(s *scheduler) { api.sched = s }

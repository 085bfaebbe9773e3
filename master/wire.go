package master

// wire is the master's side of the wire contract (rpcapi.MasterAPI): the
// calls of workers and of remote clients, over both transports
// (countingAPI counts their errors). It keeps no state of its own; its
// methods, in the files of the parts they belong to (registry.go,
// service.go, report.go, pull.go, purge.go, cron.go), work on the master
// they wrap.
// Programs that embed a master call its typed methods (embed.go) instead.
type wire struct{ m *Master }

// rpc returns m's side of the wire contract.
func (m *Master) rpc() wire { return wire{m} }

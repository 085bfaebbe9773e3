// Package crash stops a worker.Worker abruptly, as kill -9 would:
// connections cut, jobs killed, nothing reported, no logout; the master
// finds out by reaping. It is for drover's own tests, demo, benchmarks
// and drovertest's clusters, and not part of the worker's API. Package
// worker sets Worker when it loads.
package crash

// Worker crashes w, a *worker.Worker (it panics for anything else).
var Worker func(w any)

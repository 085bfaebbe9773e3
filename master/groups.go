package master

import "github.com/drover/drover/jobs"

// groupFinal is told when a job reaches a final state. The caller holds
// mu; it must not block.
func (m *Master) groupFinal(j *jobs.Job) {}

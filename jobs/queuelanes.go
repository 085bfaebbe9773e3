package jobs

// What a view of the queue reads of one lane without walking its jobs:
// how many of its jobs are delayed, and the jobs at its heads.

// countDelayed adds d to the delayed jobs of lane.
func (q *Queue) countDelayed(lane string, d int) {
	if q.delayedIn == nil {
		q.delayedIn = make(map[string]int)
	}
	if n := q.delayedIn[lane] + d; n > 0 {
		q.delayedIn[lane] = n
	} else {
		delete(q.delayedIn, lane)
		if len(q.delayedIn) == 0 {
			q.delayedIn = nil // a map keeps the room of its deleted entries
		}
	}
}

// Delayed returns the number of delayed jobs in the lane: queued, with a
// not-before time that Promote has not reached. O(1).
func (q *Queue) Delayed(lane string) int { return q.delayedIn[lane] }

// Heads calls f with the ready jobs of the lane that come first in each
// of its priority levels: the job at the head of the level's jobs pushed
// in Seq order and, if there is one, the lowest Seq among those pushed
// back out of order (retries, requeues). Among a lane's ready jobs, the
// one submitted first is one of them. O(priority levels).
func (q *Queue) Heads(lane string, f func(*Job)) {
	l := q.lanes[lane]
	if l == nil {
		return
	}
	for _, v := range l.levels {
		if it := v.fifoHead(); it != nil {
			f(it.job)
		}
		for len(v.late) > 0 && v.late[0].it.removed {
			v.late.pop()
		}
		if len(v.late) > 0 {
			f(v.late[0].it.job)
		}
	}
}

// DelayedJobs returns the delayed jobs of the lane, in no order: none at
// once when it has none, else a walk of the delayed jobs (of every lane).
func (q *Queue) DelayedJobs(lane string) []*Job {
	if q.delayedIn[lane] == 0 {
		return nil
	}
	var out []*Job
	for _, d := range q.delayed {
		if d.lane == lane {
			out = append(out, d.it.job)
		}
	}
	return out
}

package jobs

// recChunk is how many records one chunk of a recList holds (32 KiB).
const recChunk = 1024

// recList is a log segment's records in the order saved, held in chunks
// that never move. Appending to one growing slice copied every record
// already there, into fresh pages, each time it doubled: 8 % of a busy
// master's CPU in the default bench. Here an append writes one record.
//
// A reader may take a copy of the list (its chunks and length) under the
// store's mu and read it outside: add writes only past the copy's length,
// into a chunk the copy shares or into a new one.
type recList struct {
	chunks [][]Record // each recChunk long
	n      int
}

func (l *recList) add(r Record) {
	if l.n == len(l.chunks)*recChunk {
		l.chunks = append(l.chunks, make([]Record, recChunk))
	}
	l.chunks[l.n/recChunk][l.n%recChunk] = r
	l.n++
}

func (l recList) len() int { return l.n }

// at returns the record at i, which must be below len.
func (l recList) at(i int) *Record { return &l.chunks[i/recChunk][i%recChunk] }

// slice returns a new slice of the records from i on.
func (l recList) slice(i int) []Record {
	out := make([]Record, 0, l.n-i)
	for ; i < l.n; i++ {
		out = append(out, *l.at(i))
	}
	return out
}

// from returns a new list of the records from i on.
func (l recList) from(i int) recList {
	var out recList
	for ; i < l.n; i++ {
		out.add(*l.at(i))
	}
	return out
}

package jobs_test

import (
	"encoding/json"
	"fmt"
	"log"

	"github.com/drover/drover/jobs"
)

// A crawl of one site as a group: each page a job with retries, and a
// follow-up job that merges the pages once every crawl job is final.
func ExampleSpec() {
	merge := jobs.Spec{Type: "merge", Args: map[string]string{"out": "site.json"}}
	var specs []jobs.Spec
	for _, url := range []string{"https://example.com/1", "https://example.com/2"} {
		specs = append(specs, jobs.Spec{
			Type:     "crawl",
			Args:     map[string]string{"url": url},
			Group:    "example.com",
			Retries:  3,
			LimitKey: "example.com", // the master's [limits] bound crawls of one site
			Then:     &merge,        // the first submitted Then of a group wins
		})
	}
	for _, s := range specs {
		if err := s.Validate(); err != nil {
			log.Fatal(err)
		}
	}
	b, err := json.MarshalIndent(specs[0], "", "  ")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(b))

	// A follow-up needs a group to follow.
	orphan := jobs.Spec{Type: "crawl", Then: &merge}
	fmt.Println(orphan.Validate() != nil)
	// Output:
	// {
	//   "type": "crawl",
	//   "args": {
	//     "url": "https://example.com/1"
	//   },
	//   "retries": 3,
	//   "group": "example.com",
	//   "limit_key": "example.com",
	//   "then": {
	//     "type": "merge",
	//     "args": {
	//       "out": "site.json"
	//     }
	//   }
	// }
	// true
}

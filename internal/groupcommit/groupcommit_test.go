package groupcommit

import (
	"testing"
)

func TestRunCommitsQueuedJobsTogetherAndDrainsOnStop(t *testing.T) {
	jobs := make(chan int, 10)
	for i := range 5 {
		jobs <- i
	}
	stop := make(chan struct{})
	var batches [][]int
	done := make(chan struct{})
	go func() {
		defer close(done)
		Run(jobs, stop, 3, func(b []int) {
			batches = append(batches, append([]int(nil), b...))
			if len(batches) == 2 {
				jobs <- 5
				jobs <- 6
				close(stop)
			}
		})
	}()
	<-done
	want := [][]int{{0, 1, 2}, {3, 4}}
	if len(batches) < 2 || len(batches[0]) != 3 || len(batches[1]) != 2 {
		t.Fatalf("batches = %v, want %v first", batches, want)
	}
	var rest []int
	for _, b := range batches[2:] {
		rest = append(rest, b...)
	}
	if len(rest) != 2 || rest[0] != 5 || rest[1] != 6 {
		t.Fatalf("after stop the queued jobs 5 and 6 were committed as %v", batches[2:])
	}
}

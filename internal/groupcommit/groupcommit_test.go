package groupcommit

import (
	"context"
	"errors"
	"runtime"
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

func TestEnqueueQueuesUnlessStoppedOrCancelled(t *testing.T) {
	errStopped := errors.New("stopped")
	jobs := make(chan int, 1)
	stop := make(chan struct{})
	if err := Enqueue(context.Background(), jobs, stop, 1, errStopped); err != nil || len(jobs) != 1 {
		t.Fatalf("Enqueue with room = %v, %d queued; want nil, 1", err, len(jobs))
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Enqueue(ctx, jobs, stop, 2, errStopped); !errors.Is(err, context.Canceled) || len(jobs) != 1 {
		t.Fatalf("Enqueue on a full queue with its context done = %v, %d queued; want context.Canceled, 1", err, len(jobs))
	}
	<-jobs
	close(stop)
	if err := Enqueue(context.Background(), jobs, stop, 3, errStopped); err != errStopped || len(jobs) != 0 {
		t.Fatalf("Enqueue after stop = %v, %d queued; want the stopped error and nothing queued", err, len(jobs))
	}
}

// With one P, senders started while Run waits are runnable, not running,
// when Run takes the first job; without the yield Run commits that job alone
// (every round without -race, about half of them with its shuffled run
// queue). The scheduler is not fully deterministic, so most rounds, not all,
// must carry every sender.
func TestRunLetsRunnableSendersJoinALoneJobsCommit(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	const senders, rounds = 8, 100
	full := 0
	for range rounds {
		jobs := make(chan int, senders)
		stop := make(chan struct{})
		first := make(chan int, 1)
		done := make(chan struct{})
		go func() {
			defer close(done)
			Run(jobs, stop, senders, func(b []int) {
				select {
				case first <- len(b):
				default:
				}
			})
		}()
		runtime.Gosched() // Run is now waiting for its first job
		for i := range senders {
			go func() { jobs <- i }()
		}
		if <-first == senders {
			full++
		}
		close(stop)
		<-done
	}
	if full < rounds*3/4 {
		t.Fatalf("%d of %d first commits carried all %d runnable senders; want at least 3/4", full, rounds, senders)
	}
}

func TestWriterCommitsEverySubmittedJobBeforeCloseReturns(t *testing.T) {
	errStopped := errors.New("stopped")
	w := NewWriter[int](4, errStopped)
	var committed []int
	w.Start(func(b []int) { committed = append(committed, b...) })
	for i := range 20 {
		if err := w.Submit(context.Background(), i); err != nil {
			t.Fatal(err)
		}
	}
	w.Close()
	w.Close()
	if len(committed) != 20 {
		t.Fatalf("committed %d jobs before Close returned, want 20", len(committed))
	}
	if err := w.Submit(context.Background(), 20); err != errStopped {
		t.Fatalf("Submit after Close = %v, want the stopped error", err)
	}
	unstarted := NewWriter[int](1, errStopped)
	unstarted.Close()
	if err := unstarted.Submit(context.Background(), 1); err != errStopped {
		t.Fatalf("Submit to a closed writer never started = %v, want the stopped error", err)
	}
}

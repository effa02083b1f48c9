package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ticketd/ticketd/domain"
	"github.com/ticketd/ticketd/eventstore"
	"github.com/ticketd/ticketd/internal/app"
	"github.com/ticketd/ticketd/internal/service"
	"github.com/ticketd/ticketd/projections"
)

// Sample values seeded tickets draw from, so filters match realistic shares.
var (
	seedTheaters = []string{"CGV 강남", "CGV 용산아이파크몰", "메가박스 코엑스", "롯데시네마 월드타워", "CGV 홍대", "메가박스 신촌", "롯데시네마 건대입구", "CGV 여의도"}
	seedMovies   = []string{"영화 제목", "서울의 봄", "파묘", "범죄도시 4", "베테랑 2", "하얼빈", "듄: 파트 2", "인사이드 아웃 2", "웡카", "괴물"}
)

func runSeed(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	var db database
	var tickets, batch, workers, users int64
	var refundEvery int64
	var span time.Duration
	var logs logConfig
	cmd := newCommand("seed", "ticketd seed [--db PATH|URL] [--tickets N]",
		"Fills a database with N tickets through the real append path, in large atomic batches\n"+
			"committed by concurrent appenders (group commit), refunds every k-th ticket, then\n"+
			"rebuilds every read model from the whole log. For benchmarks and scale tests;\n"+
			"run it with the service stopped.", stderr)
	db.register(cmd, "SQLite database file (created if missing), or PostgreSQL database URL", pgSchemaUsage)
	cmd.Int64(&tickets, "tickets", "TICKETD_SEED_TICKETS", 100_000, "how many tickets to issue")
	cmd.Int64(&refundEvery, "refund-every", "TICKETD_SEED_REFUND_EVERY", 10, "refund every k-th ticket (0: none)")
	cmd.Int64(&users, "users", "TICKETD_SEED_USERS", 10_000, "how many distinct user ids to spread tickets over")
	cmd.Int64(&batch, "batch", "TICKETD_SEED_BATCH", 1000, "tickets per append")
	cmd.Int64(&workers, "workers", "TICKETD_SEED_WORKERS", 4, "concurrent appenders")
	cmd.Duration(&span, "span", "TICKETD_SEED_SPAN", 0, "spread the events' times over this long a time before now, oldest first, in steps of one batch, such as 720h for 30 days (0: all now)")
	logs.register(cmd)
	if err := cmd.parse(args); err != nil {
		return err
	}
	if tickets < 0 || batch < 1 || workers < 1 || users < 1 || refundEvery < 0 || span < 0 {
		return fmt.Errorf("%w: --tickets, --refund-every, --span must be at least 0 and --batch, --workers, --users at least 1", errUsage)
	}
	logger, err := logs.newLogger(stderr)
	if err != nil {
		return err
	}
	var issued atomic.Int64
	store, tables, err := db.open(ctx, service.DatabaseOptions{Logger: logger, Now: spanClock(span, tickets, &issued)})
	if err != nil {
		return err
	}
	defer store.Close()
	headBefore := store.Head()
	start := time.Now()
	bar := newProgress(stderr, "seed", "tickets", tickets)
	err = seedStore(ctx, store, seedPlan{tickets: tickets, batch: batch, workers: workers, users: users, refundEvery: refundEvery}, func(n int64) {
		issued.Store(n)
		bar.update(n)
	})
	bar.done()
	if err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	appended, added := time.Since(start), store.Head()-headBefore
	projBar := newProgress(stderr, "project", "events", store.Head())
	projected, err := projections.Rebuild(ctx, store, tables, projBar.update)
	projBar.done()
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "seeded %d tickets (%d events) in %s (%.0f events/s appended); read tables rebuilt from all %d events of the log; total %s\n",
		tickets, added, appended.Round(time.Millisecond), float64(added)/max(appended.Seconds(), 1e-9),
		projected, time.Since(start).Round(time.Millisecond))
	return store.Close()
}

// spanClock returns the clock of a seed spread over span before now: the
// time as far into span as issued is into tickets. For a span of 0, nil
// (the store's own clock).
func spanClock(span time.Duration, tickets int64, issued *atomic.Int64) func() time.Time {
	if span == 0 {
		return nil
	}
	start := time.Now().Add(-span)
	return func() time.Time {
		return start.Add(time.Duration(float64(span) * float64(issued.Load()) / float64(max(tickets, 1))))
	}
}

// seedPlan says what seedStore appends.
type seedPlan struct {
	tickets, batch, workers, users, refundEvery int64
}

// defaultSeedPlan spreads tickets over 10,000 users and refunds every 10th.
func defaultSeedPlan(tickets int64) seedPlan {
	return seedPlan{tickets: tickets, batch: 1000, workers: 4, users: 10_000, refundEvery: 10}
}

// seedStore appends the plan's tickets through store's append path, each
// decided and validated as the API decides it, and reports the running
// count of tickets issued.
func seedStore(ctx context.Context, store app.Log, p seedPlan, progress func(issued int64)) error {
	var issued atomic.Int64
	commands := app.New(store, nil)
	return parallelBatches(ctx, p.tickets, p.batch, p.workers, func(first, n int64) error {
		if err := seedBatch(ctx, store, commands, first, n, p.users, p.refundEvery); err != nil {
			return err
		}
		progress(issued.Add(n))
		return nil
	})
}

// parallelBatches calls fn for consecutive batches [first, first+n) covering
// [0, total), from workers goroutines, and returns the first error.
func parallelBatches(ctx context.Context, total, batch, workers int64, fn func(first, n int64) error) error {
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := int64(0); w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				first := next.Add(batch) - batch
				if first >= total {
					return
				}
				if err := fn(first, min(batch, total-first)); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	return ctx.Err()
}

// seedBatch issues tickets first..first+n-1, one issue command each, in
// one append, then refunds every refundEvery-th of them with refund
// commands of at most domain.MaxRefundIDs tickets, an append each.
func seedBatch(ctx context.Context, store app.Log, commands *app.Commands, first, n, users, refundEvery int64) error {
	rng := rand.New(rand.NewPCG(uint64(first), 0x7ed))
	md := eventstore.Metadata{RequestID: fmt.Sprint("seed-", first), CorrelationID: "seed"}
	issue := eventstore.AppendRequest{Metadata: md, Streams: make([]eventstore.StreamAppend, 0, n)}
	reason := "고객 요청"
	refund := domain.RefundTickets{Reason: &reason}
	for i := range n {
		var memo *string
		if rng.IntN(4) == 0 {
			m := "VIP석"
			memo = &m
		}
		decided, err := commands.DecideIssue(domain.IssueTickets{
			TheaterName: seedTheaters[rng.IntN(len(seedTheaters))],
			UserID:      fmt.Sprint("user", rng.Int64N(users)),
			MovieTitle:  seedMovies[rng.IntN(len(seedMovies))],
			PriceKRW:    int64(8+rng.IntN(13)) * 1000,
			Quantity:    1,
			Memo:        memo,
		})
		if err != nil {
			return err
		}
		issue.Streams = append(issue.Streams, decided.Append.Streams...)
		if refundEvery > 0 && (first+i)%refundEvery == refundEvery-1 {
			refund.TicketIDs = append(refund.TicketIDs, decided.Append.Streams[0].StreamID)
		}
	}
	if _, err := store.Append(ctx, issue); err != nil {
		return err
	}
	for ids := range slices.Chunk(refund.TicketIDs, domain.MaxRefundIDs) {
		decided, err := commands.DecideRefund(ctx, domain.RefundTickets{TicketIDs: ids, Reason: refund.Reason})
		if err != nil {
			return err
		}
		decided.Append.Metadata = md
		if _, err := store.Append(ctx, decided.Append); err != nil {
			return err
		}
	}
	return nil
}

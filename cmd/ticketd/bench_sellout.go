package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/ticketd/ticketd/internal/loadgen"
)

// selloutTarget is the sales rate a sellout must reach, as a ratio to
// issue quantity 1 without a showing on the same deployment.
const selloutTarget = 0.8

// maxSelloutCapacity is the largest capacity a showing may have.
const maxSelloutCapacity = 100_000

// selloutReport is what the sellout mode of bench measured: one row per
// deployment (one instance on --db's engine, or each count of
// --cluster-instances on PostgreSQL).
type selloutReport struct {
	Machine  string       `json:"machine"`
	Clients  int64        `json:"clients"`
	Duration string       `json:"issue_duration"`
	Target   float64      `json:"target_ratio"`
	Rows     []selloutRow `json:"deployments"`
}

// selloutRow is one sellout of one showing of Capacity seats by the
// clients, split evenly over the deployment's instances, each buying 1–4
// seats at a time until the showing answers sold-out with none available.
type selloutRow struct {
	Engine    string `json:"engine"`
	Instances int64  `json:"instances"`
	Capacity  int64  `json:"capacity"`
	// Sold is the seats of the sales answered 201; ShowingSold the showing's
	// sold after the sellout. Both must equal Capacity.
	Sold        int64 `json:"sold"`
	ShowingSold int64 `json:"showing_sold"`
	Sales       int64 `json:"sales"`
	Conflicts   int64 `json:"conflicts_409"`
	// Errors are answers other than 201 and sold-out, and failed requests.
	Errors         int64         `json:"errors"`
	Took           time.Duration `json:"duration_ns"`
	SalesPerSecond float64       `json:"sales_per_second"`
	SeatsPerSecond float64       `json:"seats_per_second"`
	// P50 and P99 are over every sale request, answered 201 or 409.
	P50 time.Duration `json:"p50_ns"`
	P99 time.Duration `json:"p99_ns"`
	// Issue is issue quantity 1 without a showing on the same instances
	// for --duration, before the sellout, by the same clients; Ratio is
	// SalesPerSecond over its rate.
	Issue loadgen.Result `json:"issue_quantity_1"`
	Ratio float64        `json:"sales_ratio_to_issue"`
	// SeatsRatio is SeatsPerSecond over the tickets per second of Issue
	// (its rate): a sale of 1–4 seats appends 1–4 tickets.
	SeatsRatio float64 `json:"seats_ratio_to_issue"`
	// Verified says whether ticketd verify passed on the database after.
	Verified bool `json:"verified"`
}

// runSellout runs the sellout on one deployment, or one per count of
// --cluster-instances, and writes the report to stdout.
func (b *bench) runSellout(ctx context.Context, stdout io.Writer) error {
	rep := &selloutReport{Machine: machineSummary(), Clients: b.cfg.clients, Duration: b.cfg.duration.String(), Target: selloutTarget}
	counts := b.cfg.clusterInstances
	if len(counts) == 0 {
		counts = []int64{1}
	}
	for _, n := range counts {
		db, err := b.database(ctx, fmt.Sprintf("sellout_%d", n))
		if err != nil {
			return err
		}
		row, err := b.sellout(ctx, db, n)
		if err != nil {
			return err
		}
		rep.Rows = append(rep.Rows, *row)
	}
	return writeReport(stdout, b.cfg.asJSON, rep)
}

// sellout starts n instances on the new database db (with --cluster when
// clustered), measures issue quantity 1 on them, then sells out one
// showing, stops them and verifies db.
func (b *bench) sellout(ctx context.Context, db string, n int64) (*selloutRow, error) {
	row := &selloutRow{Engine: "sqlite", Instances: n, Capacity: b.cfg.selloutCapacity}
	if b.cfg.server != "" {
		row.Engine = "postgres"
	}
	instances, err := b.startInstances(ctx, db, n, len(b.cfg.clusterInstances) > 0)
	if err != nil {
		return nil, err
	}
	name := fmt.Sprintf("%s, %d instance(s)", row.Engine, n)
	b.logf("%s: issue quantity 1 for %s", name, b.cfg.duration)
	row.Issue = b.issueReference(ctx, instances)
	show, err := b.scheduleShowing(instances[0].url, row.Capacity)
	if err != nil {
		return nil, err
	}
	b.logf("%s: selling out %d seats with %d clients", name, row.Capacity, b.cfg.clients)
	b.sellOut(ctx, instances, show, row)
	if row.ShowingSold, err = b.showingSold(instances[0].url, show); err != nil {
		return nil, err
	}
	for _, c := range instances {
		if _, err := b.stop(c); err != nil {
			return nil, err
		}
	}
	if row.Issue.RPS > 0 {
		row.Ratio = row.SalesPerSecond / row.Issue.RPS
		row.SeatsRatio = row.SeatsPerSecond / row.Issue.RPS
	}
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	verify := exec.CommandContext(ctx, self, "verify", "--db", db)
	verify.Stderr = b.stderr
	row.Verified = verify.Run() == nil
	return row, ctx.Err()
}

// scheduleShowing schedules a showing of capacity seats, starting in a day,
// on the service at base and returns its id.
func (b *bench) scheduleShowing(base string, capacity int64) (string, error) {
	body := fmt.Sprintf(`{"theater_name":"CGV 강남","movie_title":"파묘","starts_at":%q,"capacity":%d,"price_krw":15000}`,
		time.Now().Add(24*time.Hour).Format(time.RFC3339), capacity)
	resp, err := b.client.Post(base+"/showings", "application/json", bytes.NewReader([]byte(body)))
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var showing struct{ ID string }
	if err := json.NewDecoder(resp.Body).Decode(&showing); err != nil || resp.StatusCode != http.StatusCreated {
		return "", fmt.Errorf("schedule the showing: status %d, %v", resp.StatusCode, err)
	}
	return showing.ID, nil
}

// showingSold reads the seats showing show has sold.
func (b *bench) showingSold(base, show string) (int64, error) {
	resp, err := b.client.Get(base + "/showings/" + show)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var showing struct{ Sold int64 }
	if err := json.NewDecoder(resp.Body).Decode(&showing); err != nil || resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("read the showing: status %d, %v", resp.StatusCode, err)
	}
	return showing.Sold, nil
}

// issueAnswer is an answer of POST /tickets/issue: its status and, for a
// problem, its type and available seats.
type issueAnswer struct {
	Status    int
	Type      string
	Available *int64
}

// buyer is one client's part of a drive: given its previous answer (nil
// before the first) it returns the next POST /tickets/issue body, or false
// to stop.
type buyer func(prev *issueAnswer) (body string, more bool)

// drive runs the clients, client i on instance i mod n with the buyer
// newBuyer(i) gives, each over its own keep-alive connection, until every
// buyer stopped or ctx ended (a failed request stops its client; the
// buyers count the answers). It returns every request's latency, sorted,
// and how long the drive took.
func (b *bench) drive(ctx context.Context, instances []*child, newBuyer func(i int64) buyer) ([]time.Duration, time.Duration) {
	latencies := make([][]time.Duration, b.cfg.clients)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range b.cfg.clients {
		target := instances[i%int64(len(instances))].url + "/tickets/issue"
		next := newBuyer(i)
		wg.Add(1)
		go func() {
			defer wg.Done()
			transport := &http.Transport{MaxIdleConnsPerHost: 1}
			defer transport.CloseIdleConnections()
			client := &http.Client{Transport: transport, Timeout: 30 * time.Second}
			var prev *issueAnswer
			for ctx.Err() == nil {
				body, more := next(prev)
				if !more {
					return
				}
				t0 := time.Now()
				resp, err := client.Post(target, "application/json", strings.NewReader(body))
				if err != nil {
					next(&issueAnswer{})
					return
				}
				prev = &issueAnswer{Status: resp.StatusCode}
				if resp.StatusCode != http.StatusCreated {
					json.NewDecoder(resp.Body).Decode(prev)
					prev.Status = resp.StatusCode
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				latencies[i] = append(latencies[i], time.Since(t0))
			}
		}()
	}
	wg.Wait()
	all := slices.Concat(latencies...)
	slices.Sort(all)
	return all, time.Since(start)
}

// issueReference drives issue quantity 1 without a showing for --duration
// through drive, the sellout's own clients, and returns its result.
func (b *bench) issueReference(ctx context.Context, instances []*child) loadgen.Result {
	var errs atomic.Int64
	deadline := time.Now().Add(b.cfg.duration)
	body := `{"theater_name":"CGV 강남","user_id":"bench","movie_title":"영화 제목","price_krw":15000,"quantity":1,"memo":"VIP석"}`
	all, took := b.drive(ctx, instances, func(int64) buyer {
		return func(prev *issueAnswer) (string, bool) {
			if prev != nil && prev.Status != http.StatusCreated {
				errs.Add(1)
				return "", false
			}
			return body, time.Now().Before(deadline)
		}
	})
	r := loadgen.Result{Requests: int64(len(all)), Errors: errs.Load(), Duration: took}
	if len(all) > 0 {
		r.RPS = float64(len(all)) / took.Seconds()
		r.P50, r.P99, r.Max = all[len(all)*50/100], all[len(all)*99/100], all[len(all)-1]
	}
	return r
}

// sellOut runs the clients, each buying 1–4 seats of show at a time for a
// buyer of its own until a sold-out answer says no seat is left (after a
// sold-out with seats left it asks for at most those), or another answer;
// it fills row's counts, rates and latencies.
func (b *bench) sellOut(ctx context.Context, instances []*child, show string, row *selloutRow) {
	var sold, sales, conflicts, errs atomic.Int64
	all, took := b.drive(ctx, instances, func(i int64) buyer {
		left, quantity := int64(4), int64(0)
		return func(prev *issueAnswer) (string, bool) {
			switch {
			case prev == nil:
			case prev.Status == http.StatusCreated:
				sales.Add(1)
				sold.Add(quantity)
			case prev.Status == http.StatusConflict && path.Base(prev.Type) == "sold-out" && prev.Available != nil:
				conflicts.Add(1)
				if left = min(*prev.Available, 4); left == 0 {
					return "", false
				}
			default:
				errs.Add(1)
				return "", false
			}
			quantity = min(1+rand.Int64N(4), left)
			return fmt.Sprintf(`{"showing_id":%q,"user_id":"buyer%d","quantity":%d}`, show, i, quantity), true
		}
	})
	row.Took = took
	row.Sold, row.Sales, row.Conflicts, row.Errors = sold.Load(), sales.Load(), conflicts.Load(), errs.Load()
	row.SalesPerSecond = float64(row.Sales) / took.Seconds()
	row.SeatsPerSecond = float64(row.Sold) / took.Seconds()
	if len(all) > 0 {
		row.P50, row.P99 = all[len(all)*50/100], all[len(all)*99/100]
	}
}

// erred fails a run whose sellouts are not exact or whose requests failed:
// its figures do not measure a sellout.
func (r *selloutReport) erred() error {
	for _, row := range r.Rows {
		if row.Sold != row.Capacity || row.ShowingSold != row.Capacity || row.Errors > 0 || row.Issue.Errors > 0 || !row.Verified {
			return fmt.Errorf("invalid sellout on %s with %d instance(s): sold %d (answers) and %d (showing) of %d seats, %d errors, %d issue errors, verify passed: %v",
				row.Engine, row.Instances, row.Sold, row.ShowingSold, row.Capacity, row.Errors, row.Issue.Errors, row.Verified)
		}
	}
	return nil
}

func (r *selloutReport) print(w io.Writer) {
	fmt.Fprintf(w, "ticketd bench, sellout mode: %d clients buying 1–4 seats until sold out, split over the instances; issue quantity 1 for %s before it; on %s\n\n",
		r.Clients, r.Duration, r.Machine)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "engine\tinstances\tcapacity\tsold\tsales\tsales/s\tseats/s\tissue q1 req/s\tsales vs issue\tseats vs issue\tp50 ms\tp99 ms\t409s\terrors\tverify\t")
	for _, row := range r.Rows {
		verdict := "PASS"
		if row.Ratio < r.Target {
			verdict = "MISS"
		}
		verified := "ok"
		if !row.Verified {
			verified = "FAILED"
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%.0f\t%.0f\t%.0f\t%.2f× %s\t%.2f×\t%.2f\t%.2f\t%d\t%d\t%s\t\n", row.Engine, row.Instances, row.Capacity,
			row.Sold, row.Sales, row.SalesPerSecond, row.SeatsPerSecond, row.Issue.RPS, row.Ratio, verdict, row.SeatsRatio, ms(row.P50), ms(row.P99),
			row.Conflicts, row.Errors, verified)
	}
	tw.Flush()
	fmt.Fprintf(w, "\nsold counts the seats of the 201 answers and must equal the capacity (as must the showing's sold); sales vs issue\n"+
		"is sales/s over issue quantity 1 req/s without a showing by the same clients on the same instances (target ≥ %.1f×);\n"+
		"seats vs issue is seats/s over the same (tickets/s: a sale appends 1–4 tickets); p50 and p99 are over every sale\n"+
		"request (201 or 409)\n", r.Target)
}

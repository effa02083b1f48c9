package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"strconv"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/ticketd/ticketd/internal/loadgen"
)

// maxClusterInstances bounds --cluster-instances: more processes than this
// on one machine measure the machine, not the design.
const maxClusterInstances = 16

// parseInstanceCount reads one item of --cluster-instances.
func parseInstanceCount(s string) (int64, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 1 || n > maxClusterInstances {
		return 0, fmt.Errorf("%q is not an instance count from 1 to %d", s, maxClusterInstances)
	}
	return n, nil
}

// clusterReport is what the cluster mode of bench measured: one row for
// one SQLite instance, the reference, then one per instance count on
// PostgreSQL, all in the same run.
type clusterReport struct {
	Machine     string       `json:"machine"`
	Clients     int64        `json:"clients"`
	Duration    string       `json:"duration"`
	SeedTickets int64        `json:"seed_tickets"`
	Rows        []clusterRow `json:"deployments"`
}

// clusterRow is one deployment: its instances share one database and the
// clients are split evenly between them.
type clusterRow struct {
	Engine    string `json:"engine"`
	Instances int64  `json:"instances"`
	// Issue is POST /tickets/issue of one ticket; Get is GET /tickets/{id}
	// of seeded tickets at random. Their P50 and P99 are the slowest
	// instance's.
	Issue      loadgen.Result `json:"issue"`
	Get        loadgen.Result `json:"get"`
	IssueRatio float64        `json:"issue_ratio_to_sqlite"`
	GetRatio   float64        `json:"get_ratio_to_sqlite"`
	// LockWait and LockHold are the append lock's wait and hold per group
	// commit over every instance; nil on SQLite, which has no such lock.
	LockWait   *lagReport        `json:"append_lock_wait,omitempty"`
	LockHold   *lagReport        `json:"append_lock_hold,omitempty"`
	BatchSizes map[string]uint64 `json:"group_commit_batch_sizes"`
}

// runCluster measures issue and GET throughput of one SQLite instance and of
// each count of --cluster instances on one PostgreSQL database, and writes
// the report to stdout.
func (b *bench) runCluster(ctx context.Context, stdout io.Writer) error {
	rep := &clusterReport{Machine: machineSummary(), Clients: b.cfg.clients, Duration: b.cfg.duration.String(), SeedTickets: b.cfg.seedTickets}
	sqlite, err := b.measureDeployment(ctx, "sqlite", filepath.Join(b.dir, "reference.db"), 1)
	if err != nil {
		return err
	}
	rep.Rows = append(rep.Rows, *sqlite)
	for _, n := range b.cfg.clusterInstances {
		db, err := b.database(ctx, fmt.Sprintf("cluster_%d", n))
		if err != nil {
			return err
		}
		row, err := b.measureDeployment(ctx, "postgres", db, n)
		if err != nil {
			return err
		}
		rep.Rows = append(rep.Rows, *row)
	}
	for i := range rep.Rows {
		rep.Rows[i].IssueRatio = rep.Rows[i].Issue.RPS / sqlite.Issue.RPS
		rep.Rows[i].GetRatio = rep.Rows[i].Get.RPS / sqlite.Get.RPS
	}
	return writeReport(stdout, b.cfg.asJSON, rep)
}

// startInstances starts n `serve` processes on db (with --cluster and an
// instance id each when clustered) and waits until every one is ready.
func (b *bench) startInstances(ctx context.Context, db string, n int64, clustered bool) ([]*child, error) {
	var instances []*child
	for i := range n {
		args := []string{"serve", "--db", db, "--log-level", "warn"}
		if clustered {
			args = append(args, "--cluster", "--instance-id", fmt.Sprintf("bench-%d", i+1))
		}
		c, err := b.start(ctx, args...)
		if err != nil {
			return nil, err
		}
		instances = append(instances, c)
	}
	for _, c := range instances {
		if err := b.waitReady(ctx, c); err != nil {
			return nil, err
		}
	}
	return instances, nil
}

// measureDeployment seeds db, starts n instances on it (with --cluster on
// PostgreSQL), runs the issue and the GET scenario against them and stops
// them.
func (b *bench) measureDeployment(ctx context.Context, engine, db string, n int64) (*clusterRow, error) {
	ids, err := b.seed(ctx, db, b.cfg.seedTickets)
	if err != nil {
		return nil, err
	}
	instances, err := b.startInstances(ctx, db, n, engine == "postgres")
	if err != nil {
		return nil, err
	}
	before, err := b.scrapeAll(instances)
	if err != nil {
		return nil, err
	}
	name := fmt.Sprintf("%s, %d instance(s)", engine, n)
	row := &clusterRow{Engine: engine, Instances: n}
	row.Issue = b.spread(ctx, name+": issue", instances, func(base string) loadgen.NewRequest { return postIssue(base, 1) })
	row.Get = b.spread(ctx, name+": GET /tickets/{id}", instances, func(base string) loadgen.NewRequest {
		return func(int64) (*http.Request, error) {
			return http.NewRequest("GET", base+"/tickets/"+ids[rand.IntN(len(ids))], nil)
		}
	})
	after, err := b.scrapeAll(instances)
	if err != nil {
		return nil, err
	}
	row.BatchSizes = sumHistogramDeltas(before, after, "ticketd_group_commit_batch_size")
	if wait := sumHistogramDeltas(before, after, "ticketd_append_lock_wait_seconds"); histogramCount(wait) > 0 {
		q := quantilesMS(wait)
		row.LockWait = &q
	}
	if hold := sumHistogramDeltas(before, after, "ticketd_append_lock_hold_seconds"); histogramCount(hold) > 0 {
		q := quantilesMS(hold)
		row.LockHold = &q
	}
	for _, c := range instances {
		if _, err := b.stop(c); err != nil {
			return nil, err
		}
	}
	return row, ctx.Err()
}

// waitReady waits until c's GET /readyz answers 200: on PostgreSQL with
// --cluster, until a projector leader serves the shared table.
func (b *bench) waitReady(ctx context.Context, c *child) error {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		resp, err := b.client.Get(c.url + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s/readyz did not answer 200 within a minute", c.url)
}

// spread runs one scenario against every instance at once, the clients
// split evenly between them (each load client keeps one connection to one
// instance), and combines the results: requests, errors and rates add up,
// latencies are the slowest instance's.
func (b *bench) spread(ctx context.Context, name string, instances []*child, request func(base string) loadgen.NewRequest) loadgen.Result {
	results := make([]loadgen.Result, len(instances))
	var wg sync.WaitGroup
	for i, c := range instances {
		clients := b.cfg.clients / int64(len(instances))
		if int64(i) < b.cfg.clients%int64(len(instances)) {
			clients++
		}
		if clients == 0 {
			continue
		}
		cfg := loadgen.Config{Clients: int(clients), Duration: b.cfg.duration}
		if i == 0 {
			cfg.Progress = func(done int64, elapsed time.Duration) {
				b.logf("%s: %s, %.0f req/s on the first instance", name, elapsed.Round(time.Second), float64(done)/elapsed.Seconds())
			}
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = loadgen.Run(ctx, cfg, request(c.url))
		}()
	}
	wg.Wait()
	var total loadgen.Result
	for _, r := range results {
		total.Requests += r.Requests
		total.Errors += r.Errors
		total.RPS += r.RPS
		total.Duration = max(total.Duration, r.Duration)
		total.P50, total.P99, total.Max = max(total.P50, r.P50), max(total.P99, r.P99), max(total.Max, r.Max)
	}
	return total
}

// scrapeAll scrapes every instance's metrics.
func (b *bench) scrapeAll(instances []*child) ([]map[string]float64, error) {
	var all []map[string]float64
	for _, c := range instances {
		m, err := scrape(b.client, c.url)
		if err != nil {
			return nil, err
		}
		all = append(all, m)
	}
	return all, nil
}

// sumHistogramDeltas is histogramDelta summed over instances.
func sumHistogramDeltas(before, after []map[string]float64, name string) map[string]uint64 {
	sum := map[string]uint64{}
	for i := range after {
		for le, n := range histogramDelta(before[i], after[i], name) {
			sum[le] += n
		}
	}
	return sum
}

// erred fails naming the deployments whose scenarios had failed requests.
func (r *clusterReport) erred() error {
	for _, row := range r.Rows {
		if row.Issue.Errors > 0 || row.Get.Errors > 0 {
			return fmt.Errorf("requests failed on %s with %d instance(s): %d issue, %d GET errors; the figures are not comparable",
				row.Engine, row.Instances, row.Issue.Errors, row.Get.Errors)
		}
	}
	return nil
}

func (r *clusterReport) print(w io.Writer) {
	fmt.Fprintf(w, "ticketd bench, cluster mode: %d clients split over the instances, %s per scenario, %d seeded tickets, on %s\n\n",
		r.Clients, r.Duration, r.SeedTickets, r.Machine)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "engine\tinstances\tissue req/s\tvs SQLite\tissue p99 ms\tGET req/s\tvs SQLite\tGET p99 ms\tcommits/s\tappends/commit\tlock wait p99 ms\tlock hold p99 ms\t")
	for _, row := range r.Rows {
		wait, hold := "–", "–"
		if row.LockWait != nil {
			wait = fmt.Sprintf("≤ %.2f", row.LockWait.P99MS)
		}
		if row.LockHold != nil {
			hold = fmt.Sprintf("≤ %.2f", row.LockHold.P99MS)
		}
		commits := histogramCount(row.BatchSizes)
		fmt.Fprintf(tw, "%s\t%d\t%.0f\t%.2f×\t%.2f\t%.0f\t%.2f×\t%.2f\t%.0f\t%.1f\t%s\t%s\t\n", row.Engine, row.Instances,
			row.Issue.RPS, row.IssueRatio, ms(row.Issue.P99), row.Get.RPS, row.GetRatio, ms(row.Get.P99),
			float64(commits)/row.Issue.Duration.Seconds(), float64(row.Issue.Requests)/float64(max(commits, 1)), wait, hold)
	}
	tw.Flush()
	fmt.Fprintln(w, "\nlatencies are the slowest instance's; commits/s and appends/commit (the mean) count the group commits of all\n"+
		"instances during the issue scenario; the lock's wait and hold are per group commit over all instances (histogram bucket bounds)")
}

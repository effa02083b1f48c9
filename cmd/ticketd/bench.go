package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/ticketd/ticketd/domain"
	"github.com/ticketd/ticketd/eventstore"
	"github.com/ticketd/ticketd/eventstore/postgres"
	"github.com/ticketd/ticketd/httpapi"
	"github.com/ticketd/ticketd/internal/loadgen"
	"github.com/ticketd/ticketd/internal/service"
	"github.com/ticketd/ticketd/internal/termtext"
	"github.com/ticketd/ticketd/projections"
)

// benchConfig is what `ticketd bench` is configured with.
type benchConfig struct {
	clients       int64
	duration      time.Duration
	seedTickets   int64
	scaleTickets  int64
	scaleDuration time.Duration
	scaleClients  int64
	asJSON        bool
	keep          bool
	serveBaseline string
	// cpuProfiles, when set, is the folder CPU profiles of the service
	// during each of its scenarios go to.
	cpuProfiles string
	// server is where the temporary databases go: "" for SQLite files in a
	// temporary folder, else the URL of a PostgreSQL server (--db).
	server string
	// clusterInstances, when set, selects the cluster mode (bench_cluster.go).
	clusterInstances []int64
	// exportEvents, when set, selects the export mode (bench_export.go).
	exportEvents int64
	// selloutCapacity, when set, selects the sellout mode (bench_sellout.go).
	selloutCapacity int64
}

func runBench(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	var cfg benchConfig
	cmd := newCommand("bench", "ticketd bench [flags]",
		"Measures the service end to end in one run: starts a fresh ticketd on a temporary\n"+
			"database and, the same way and in the same run, a bare Gin baseline that only decodes\n"+
			"and validates; drives each with N keep-alive clients for a set time (issue q1/q2,\n"+
			"refund, GET by id, GET list; baseline POST and GET) and prints every figure next to\n"+
			"its baseline as a ratio. Also reports projection lag, group-commit batch sizes,\n"+
			"replay speed next to a bare read of the same log and the service's peak RSS, and\n"+
			"judges its performance targets (PASS/MISS); with --db, issue on SQLite in the same run;\n"+
			"with --scale-tickets, list-query latency on a database of that many tickets.", stderr)
	cmd.Int64(&cfg.clients, "clients", "TICKETD_BENCH_CLIENTS", 64, "concurrent keep-alive clients")
	cmd.Duration(&cfg.duration, "duration", "TICKETD_BENCH_DURATION", 10*time.Second, "how long each scenario runs")
	cmd.Int64(&cfg.seedTickets, "seed-tickets", "TICKETD_BENCH_SEED_TICKETS", 100_000, "tickets seeded before the run (refund and GET targets)")
	cmd.Int64(&cfg.scaleTickets, "scale-tickets", "TICKETD_BENCH_SCALE_TICKETS", 0, "also measure list queries on a database of this many tickets (0: skip)")
	cmd.Duration(&cfg.scaleDuration, "scale-duration", "TICKETD_BENCH_SCALE_DURATION", 5*time.Second, "how long each list query of the scale test runs")
	cmd.Int64(&cfg.scaleClients, "scale-clients", "TICKETD_BENCH_SCALE_CLIENTS", 4, "concurrent clients of the scale test")
	cmd.Bool(&cfg.asJSON, "json", "TICKETD_BENCH_JSON", false, "print the results as JSON")
	cmd.Bool(&cfg.keep, "keep", "TICKETD_BENCH_KEEP", false, "keep the temporary databases")
	cmd.String(&cfg.server, "db", "TICKETD_BENCH_DB", "", "where the temporary databases go: empty for SQLite files in a temporary folder, or the postgres:// URL of a PostgreSQL database to connect to, on whose server bench creates databases of its own")
	listVar(cmd, &cfg.clusterInstances, "cluster-instances", "TICKETD_BENCH_CLUSTER_INSTANCES",
		"cluster mode, instead of the scenarios above: issue and GET by id throughput of one SQLite instance and, on --db's PostgreSQL server, of each of these counts of serve --cluster instances sharing one database (such as 1,2,3), with the append-lock wait and hold",
		"instance counts from 1 to 16 such as 1,2,3", parseInstanceCount)
	cmd.Int64(&cfg.exportEvents, "export-events", "TICKETD_BENCH_EXPORT_EVENTS", 0,
		"export mode, instead of the scenarios above: seed a SQLite log of about this many events spread over 30 days, then time ticketd export of it as JSON Lines and as Parquet, in turn, twice each (events/s, CPU, bytes, peak RSS), and a Parquet export of its first quarter (0: off)")
	cmd.Int64(&cfg.selloutCapacity, "sellout-capacity", "TICKETD_BENCH_SELLOUT_CAPACITY", 0,
		"sellout mode, instead of the scenarios above: issue quantity 1 for --duration, then --clients buyers of 1–4 seats sell out one showing of this many seats (up to 100,000; 20000 in docs/BENCHMARKS.md), on a SQLite file, --db's PostgreSQL, or each count of --cluster-instances; fails unless exactly the capacity is sold and verify passes (0: off)")
	cmd.String(&cfg.cpuProfiles, "cpu-profiles", "TICKETD_BENCH_CPU_PROFILES", "", "write a CPU profile of the service during each of its scenarios into this folder, one file per scenario (issue-quantity-1.pprof, …; empty: none)")
	cmd.String(&cfg.serveBaseline, "serve-baseline", "TICKETD_BENCH_SERVE_BASELINE", "", "serve only the bare-Gin baseline on this address (bench starts itself this way)")
	cmd.hide("serve-baseline")
	if err := cmd.parse(args); err != nil {
		return err
	}
	if cfg.serveBaseline != "" {
		return serveBaseline(ctx, cfg.serveBaseline)
	}
	if cfg.server != "" && !service.IsPostgres(cfg.server) {
		return fmt.Errorf("%w: --db ($TICKETD_BENCH_DB) must be empty or a postgres:// or postgresql:// URL", errUsage)
	}
	if cfg.clients < 1 || cfg.duration <= 0 || cfg.seedTickets < 1 || cfg.scaleTickets < 0 || cfg.scaleDuration <= 0 || cfg.scaleClients < 1 {
		return fmt.Errorf("%w: --clients, --duration, --seed-tickets, --scale-duration and --scale-clients must be positive", errUsage)
	}
	if len(cfg.clusterInstances) > 0 && cfg.server == "" {
		return fmt.Errorf("%w: --cluster-instances ($TICKETD_BENCH_CLUSTER_INSTANCES) needs --db ($TICKETD_BENCH_DB), a postgres:// URL", errUsage)
	}
	if cfg.exportEvents < 0 || cfg.exportEvents > 0 && (cfg.server != "" || len(cfg.clusterInstances) > 0) {
		return fmt.Errorf("%w: --export-events ($TICKETD_BENCH_EXPORT_EVENTS) must be at least 0, and runs alone on SQLite (no --db, no --cluster-instances)", errUsage)
	}
	if cfg.selloutCapacity < 0 || cfg.selloutCapacity > maxSelloutCapacity || cfg.selloutCapacity > 0 && cfg.exportEvents > 0 {
		return fmt.Errorf("%w: --sellout-capacity ($TICKETD_BENCH_SELLOUT_CAPACITY) must be from 0 to %d, and not with --export-events", errUsage, maxSelloutCapacity)
	}
	b, err := newBench(cfg, stderr)
	if err != nil {
		return err
	}
	defer b.cleanup()
	if cfg.selloutCapacity > 0 {
		return b.runSellout(ctx, stdout)
	}
	if len(cfg.clusterInstances) > 0 {
		return b.runCluster(ctx, stdout)
	}
	if cfg.exportEvents > 0 {
		return b.runExportBench(ctx, cfg.exportEvents, stdout)
	}
	report, err := b.run(ctx)
	if err != nil {
		return err
	}
	return writeReport(stdout, cfg.asJSON, report)
}

// report is a bench run's outcome.
type report interface {
	print(w io.Writer)
	// erred fails when requests failed, so the figures do not measure what
	// they say.
	erred() error
}

// writeReport writes r to w as text or as indented JSON, and then returns
// r.erred().
func writeReport(w io.Writer, asJSON bool, r report) error {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if err := enc.Encode(r); err != nil {
			return err
		}
	} else {
		r.print(w)
	}
	return r.erred()
}

// erred fails naming the scenarios that had failed requests: their rates,
// and every ratio to them, do not measure what they say.
func (r *benchReport) erred() error {
	var failed []string
	for _, s := range r.Scenarios {
		if s.Result.Errors > 0 {
			failed = append(failed, fmt.Sprintf("%s (%d errors)", s.Name, s.Result.Errors))
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("requests failed in %s: the figures are not comparable", strings.Join(failed, ", "))
	}
	return nil
}

// serveBaseline serves httpapi.NewBaseline on addr until ctx ends.
func serveBaseline(ctx context.Context, addr string) error {
	srv := &http.Server{Addr: addr, Handler: httpapi.NewBaseline(), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// benchReport is everything one bench run measured.
type benchReport struct {
	Machine    string           `json:"machine"`
	Clients    int64            `json:"clients"`
	Duration   string           `json:"duration"`
	Scenarios  []scenarioResult `json:"scenarios"`
	Projection lagReport        `json:"projection_lag"`
	// AppendLock is how long group commits held PostgreSQL's global append
	// lock; nil on SQLite, which has none.
	AppendLock *lagReport `json:"append_lock_hold,omitempty"`
	// LagClock says what the projection lag is measured from and on which clock.
	LagClock    string            `json:"projection_lag_clock"`
	BatchSizes  map[string]uint64 `json:"group_commit_batch_sizes"`
	ReplayRate  float64           `json:"replay_events_per_second"`
	ReplayCount int64             `json:"replay_events"`
	// BareReadRate is the baseline of replay: every event row of the same
	// log read and decoded, nothing written (the faster of two reads).
	BareReadRate float64 `json:"bare_read_events_per_second"`
	// SQLiteIssue is issue quantity 1 on a SQLite service in a run on
	// PostgreSQL (--db); its Ratio is PostgreSQL's rate over SQLite's.
	SQLiteIssue *scenarioResult `json:"sqlite_issue,omitempty"`
	PeakRSSMB   float64         `json:"peak_rss_mb"`
	Scale       *scaleReport    `json:"scale,omitempty"`
	// LoadAverage is the machine's 1-minute load average at the end of the
	// run (-1 where /proc/loadavg is not readable): above its core count,
	// other processes took CPU from the run and moved its ratios.
	LoadAverage float64  `json:"load_average_1m"`
	Targets     []target `json:"targets"`
}

// lagClock is what bench's projection lag measures.
const lagClock = "from the end of each event's commit (when the log's head reached it) to its change being visible in the tickets read table, on the service's monotonic clock (ticketd_projection_lag_seconds bucket bounds)"

type scenarioResult struct {
	Name     string         `json:"name"`
	Baseline string         `json:"baseline,omitempty"`
	Result   loadgen.Result `json:"result"`
	Ratio    float64        `json:"ratio_to_baseline,omitempty"`
	// CPUPerRequestUS is the serving process's CPU time (user and system)
	// over the scenario per request, in µs: steadier than rates on a shared
	// machine. 0 where not measured.
	CPUPerRequestUS float64 `json:"cpu_us_per_request,omitempty"`
}

type lagReport struct {
	P50MS float64 `json:"p50_ms"`
	P99MS float64 `json:"p99_ms"`
}

type scaleReport struct {
	Tickets   int64            `json:"tickets"`
	Clients   int64            `json:"clients"`
	Queries   []scenarioResult `json:"queries"`
	PeakRSSMB float64          `json:"peak_rss_mb"`
}

// bench holds one run's temporary files and child processes.
type bench struct {
	cfg    benchConfig
	stderr io.Writer
	dir    string
	client *http.Client
	procs  []*exec.Cmd
	// created are the PostgreSQL databases bench created, dropped by cleanup.
	created []string
}

func newBench(cfg benchConfig, stderr io.Writer) (*bench, error) {
	dir, err := os.MkdirTemp("", "ticketd-bench-")
	if err != nil {
		return nil, err
	}
	return &bench{cfg: cfg, stderr: stderr, dir: dir, client: &http.Client{Timeout: 30 * time.Second}}, nil
}

func (b *bench) cleanup() {
	for _, p := range b.procs {
		p.Process.Kill()
		p.Wait()
	}
	if b.cfg.keep {
		fmt.Fprintf(b.stderr, "bench: kept %s %s\n", b.dir, strings.Join(b.created, " "))
		return
	}
	os.RemoveAll(b.dir)
	for _, name := range b.created {
		if err := postgres.DropDatabase(context.Background(), b.cfg.server, name); err != nil {
			b.logf("%v", err)
		}
	}
}

// database returns the --db of a new, empty database called name: a file in
// the temporary folder, or a database bench creates on the PostgreSQL server.
func (b *bench) database(ctx context.Context, name string) (string, error) {
	if b.cfg.server == "" {
		return filepath.Join(b.dir, name+".db"), nil
	}
	dbName := fmt.Sprintf("ticketd_bench_%d_%s", os.Getpid(), name)
	db, err := postgres.CreateDatabase(ctx, b.cfg.server, dbName)
	if err != nil {
		return "", err
	}
	b.created = append(b.created, dbName)
	return db, nil
}

func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(b.stderr, "bench: %s\n", termtext.Escape(fmt.Sprintf(format, args...)))
}

func (b *bench) run(ctx context.Context) (*benchReport, error) {
	rep := &benchReport{Machine: machineSummary(), Clients: b.cfg.clients, Duration: b.cfg.duration.String()}
	db, err := b.database(ctx, "bench")
	if err != nil {
		return nil, err
	}
	ids, err := b.seed(ctx, db, b.cfg.seedTickets)
	if err != nil {
		return nil, err
	}
	baseline, err := b.start(ctx, "bench", "--serve-baseline")
	if err != nil {
		return nil, err
	}
	serveArgs := []string{"serve", "--db", db, "--log-level", "warn"}
	var debugURL string
	if b.cfg.cpuProfiles != "" {
		if err := os.MkdirAll(b.cfg.cpuProfiles, 0o755); err != nil {
			return nil, err
		}
		addr, err := freeLoopbackAddr()
		if err != nil {
			return nil, err
		}
		serveArgs, debugURL = append(serveArgs, "--debug-addr", addr), "http://"+addr
	}
	svc, err := b.start(ctx, serveArgs...)
	if err != nil {
		return nil, err
	}
	randomID := func() string { return ids[rand.IntN(len(ids))] }
	var nextRefund atomic.Int64
	scenarios := []struct {
		name, baseline string
		server         *child // the process serving the scenario, whose CPU time is measured
		req            func(i int64) (*http.Request, error)
	}{
		{"baseline POST /tickets/issue", "", baseline, postIssue(baseline.url, 1)},
		{"issue quantity 1", "baseline POST /tickets/issue", svc, postIssue(svc.url, 1)},
		{"issue quantity 2", "baseline POST /tickets/issue", svc, postIssue(svc.url, 2)},
		{"refund 1 ticket", "baseline POST /tickets/issue", svc, func(int64) (*http.Request, error) {
			id := ids[(nextRefund.Add(1)-1)%int64(len(ids))]
			return jsonRequest(svc.url+"/tickets/refund", fmt.Sprintf(`{"ticket_ids":[%q],"reason":"bench"}`, id))
		}},
		{"baseline GET /tickets/{id}", "", baseline, func(int64) (*http.Request, error) {
			return http.NewRequest("GET", baseline.url+"/tickets/"+randomID(), nil)
		}},
		{"GET /tickets/{id}", "baseline GET /tickets/{id}", svc, func(int64) (*http.Request, error) {
			return http.NewRequest("GET", svc.url+"/tickets/"+randomID(), nil)
		}},
		{"GET /tickets?theater_name=…&limit=20", "baseline GET /tickets/{id}", svc, func(int64) (*http.Request, error) {
			return http.NewRequest("GET", svc.url+"/tickets?theater_name="+url.QueryEscape("CGV 강남")+"&limit=20", nil)
		}},
	}
	before, err := scrape(b.client, svc.url)
	if err != nil {
		return nil, err
	}
	results := map[string]loadgen.Result{}
	for i, sc := range scenarios {
		var profiled chan error
		profile := filepath.Join(b.cfg.cpuProfiles, profileName(sc.name))
		if debugURL != "" && sc.server == svc {
			profiled = make(chan error, 1)
			go func() { profiled <- cpuProfile(http.DefaultClient, debugURL, b.cfg.duration-time.Second, profile) }()
		}
		cpuBefore, err := cpuTime(sc.server.cmd.Process.Pid)
		if err != nil {
			return nil, err
		}
		r := b.load(ctx, fmt.Sprintf("%d/%d", i+1, len(scenarios)), sc.name, sc.req)
		cpuAfter, err := cpuTime(sc.server.cmd.Process.Pid)
		if err != nil {
			return nil, err
		}
		if profiled != nil {
			if err := <-profiled; err != nil {
				return nil, err
			}
			b.logf("CPU profile of the service during %s: %s", sc.name, profile)
		}
		results[sc.name] = r
		res := scenarioResult{Name: sc.name, Baseline: sc.baseline, Result: r}
		if r.Requests > 0 {
			res.CPUPerRequestUS = float64((cpuAfter - cpuBefore).Microseconds()) / float64(r.Requests)
		}
		if base, ok := results[sc.baseline]; ok && base.RPS > 0 {
			res.Ratio = r.RPS / base.RPS
		}
		rep.Scenarios = append(rep.Scenarios, res)
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}
	after, err := scrape(b.client, svc.url)
	if err != nil {
		return nil, err
	}
	rep.BatchSizes = histogramDelta(before, after, "ticketd_group_commit_batch_size")
	lag := histogramDelta(before, after, "ticketd_projection_lag_seconds")
	rep.Projection = quantilesMS(lag)
	rep.LagClock = lagClock
	if hold := histogramDelta(before, after, "ticketd_append_lock_hold_seconds"); histogramCount(hold) > 0 {
		q := quantilesMS(hold)
		rep.AppendLock = &q
	}
	if rep.PeakRSSMB, err = b.stop(svc); err != nil {
		return nil, err
	}
	if rep.ReplayCount, rep.ReplayRate, rep.BareReadRate, err = replayRates(ctx, db); err != nil {
		return nil, err
	}
	if b.cfg.server != "" {
		if rep.SQLiteIssue, err = b.sqliteIssue(ctx, results["issue quantity 1"]); err != nil {
			return nil, err
		}
	}
	if b.cfg.scaleTickets > 0 {
		if rep.Scale, err = b.scale(ctx); err != nil {
			return nil, err
		}
	}
	rep.Targets = rep.targets()
	rep.LoadAverage = loadAverage()
	return rep, nil
}

// load drives req with the configured clients for the configured time.
func (b *bench) load(ctx context.Context, step, name string, req loadgen.NewRequest) loadgen.Result {
	return loadgen.Run(ctx, loadgen.Config{
		Clients: int(b.cfg.clients), Duration: b.cfg.duration,
		Progress: func(done int64, elapsed time.Duration) {
			b.logf("[%s] %s: %s, %.0f req/s", step, name, elapsed.Round(time.Second), float64(done)/elapsed.Seconds())
		},
	}, req)
}

// sqliteIssue runs issue quantity 1 on a service on a new SQLite file, for
// a run on PostgreSQL whose issue result is pg; the result's Ratio is pg's
// rate over SQLite's.
func (b *bench) sqliteIssue(ctx context.Context, pg loadgen.Result) (*scenarioResult, error) {
	svc, err := b.start(ctx, "serve", "--db", filepath.Join(b.dir, "sqlite-issue.db"), "--log-level", "warn")
	if err != nil {
		return nil, err
	}
	res := &scenarioResult{Name: "issue quantity 1 on SQLite", Result: b.load(ctx, "sqlite", "issue quantity 1 on SQLite", postIssue(svc.url, 1))}
	if res.Result.RPS > 0 {
		res.Ratio = pg.RPS / res.Result.RPS
	}
	if _, err := b.stop(svc); err != nil {
		return nil, err
	}
	return res, ctx.Err()
}

// seed fills db with n tickets through the append path and returns the ids
// of those still issued, shuffled.
func (b *bench) seed(ctx context.Context, db string, n int64) ([]string, error) {
	start := time.Now()
	store, tables, err := service.OpenDatabase(ctx, db, service.DatabaseOptions{})
	if err != nil {
		return nil, err
	}
	defer store.Close()
	bar := newProgress(b.stderr, "bench: seed", "tickets", n)
	err = seedStore(ctx, store, defaultSeedPlan(n), bar.update)
	bar.done()
	if err != nil {
		return nil, err
	}
	if _, err := projections.Rebuild(ctx, store, tables, nil); err != nil {
		return nil, err
	}
	ids, err := issuedIDs(ctx, store)
	if err != nil {
		return nil, err
	}
	b.logf("seeded %d tickets in %s", n, time.Since(start).Round(time.Millisecond))
	rand.Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
	return ids, store.Close()
}

// issuedIDs returns the ids of the tickets log issued and did not refund,
// in issue order.
func issuedIDs(ctx context.Context, log eventstore.Reader) ([]string, error) {
	var ids []string
	refunded := map[string]bool{}
	for after := int64(0); ; {
		records, err := log.ReadStored(ctx, after, bareReadChunk)
		if err != nil {
			return nil, err
		}
		if len(records) == 0 {
			break
		}
		for _, rec := range records {
			switch rec.Type {
			case domain.TypeTicketIssued:
				ids = append(ids, rec.StreamID)
			case domain.TypeTicketRefunded:
				refunded[rec.StreamID] = true
			}
		}
		after = records[len(records)-1].Position
	}
	ids = slices.DeleteFunc(ids, func(id string) bool { return refunded[id] })
	if len(ids) == 0 {
		return nil, errors.New("seeded database has no issued tickets")
	}
	return ids, nil
}

// child is a process bench started and the base URL it serves.
type child struct {
	cmd *exec.Cmd
	url string
}

// start runs this binary with args plus a free loopback address and waits
// until it answers HTTP.
func (b *bench) start(ctx context.Context, args ...string) (*child, error) {
	addr, err := freeLoopbackAddr()
	if err != nil {
		return nil, err
	}
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	if args[len(args)-1] == "--serve-baseline" {
		args = append(args, addr)
	} else {
		args = append(args, "--addr", addr)
	}
	cmd := exec.CommandContext(ctx, self, args...)
	cmd.Stderr = b.stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	b.procs = append(b.procs, cmd)
	c := &child{cmd: cmd, url: "http://" + addr}
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := b.client.Get(c.url + "/tickets/x"); err == nil {
			resp.Body.Close()
			return c, nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil, fmt.Errorf("%v did not answer within a minute", args)
}

// stop ends a service with SIGTERM and returns its peak RSS in MB.
func (b *bench) stop(c *child) (float64, error) {
	rss, err := peakRSS(c.cmd.Process.Pid)
	if err != nil {
		return 0, err
	}
	c.cmd.Process.Signal(syscall.SIGTERM)
	if err := c.cmd.Wait(); err != nil {
		return 0, fmt.Errorf("service exit: %w", err)
	}
	return rss, nil
}

// cpuTime reads the CPU time (user and system) a process has used, at the
// kernel's 10 ms resolution.
func cpuTime(pid int) (time.Duration, error) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// Fields after the command name, which is in parentheses and may hold spaces.
	fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	if len(fields) < 13 {
		return 0, errors.New("short /proc stat")
	}
	var ticks int64
	for _, f := range fields[11:13] { // utime and stime, fields 14 and 15 of stat(5)
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc stat: %w", err)
		}
		ticks += n
	}
	return time.Duration(ticks) * 10 * time.Millisecond, nil
}

// peakRSS reads a process's high-water resident set size (VmHWM) in MB.
func peakRSS(pid int) (float64, error) {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(status), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			return kb / 1024, err
		}
	}
	return 0, errors.New("no VmHWM in /proc status")
}

// scale seeds a large database and measures list queries on it.
func (b *bench) scale(ctx context.Context) (*scaleReport, error) {
	db, err := b.database(ctx, "scale")
	if err != nil {
		return nil, err
	}
	if _, err := b.seed(ctx, db, b.cfg.scaleTickets); err != nil {
		return nil, err
	}
	svc, err := b.start(ctx, "serve", "--db", db, "--log-level", "warn")
	if err != nil {
		return nil, err
	}
	rep := &scaleReport{Tickets: b.cfg.scaleTickets, Clients: b.cfg.scaleClients}
	deep := b.cfg.scaleTickets / 2
	queries := []struct{ name, query string }{
		{"theater_name", "theater_name=" + url.QueryEscape("CGV 강남")},
		{"user_id", "user_id=user42"},
		{"movie_title", "movie_title=" + url.QueryEscape("파묘")},
		{"status=canceled", "status=canceled"},
		{"status=issued", "status=issued"},
		{"theater_name+status", "theater_name=" + url.QueryEscape("CGV 강남") + "&status=issued"},
		{"no filter, offset " + strconv.FormatInt(deep, 10), "offset=" + strconv.FormatInt(deep, 10)},
		{"status=issued, offset " + strconv.FormatInt(deep/2, 10), "status=issued&offset=" + strconv.FormatInt(deep/2, 10)},
	}
	for i, q := range queries {
		target := svc.url + "/tickets?limit=100&" + q.query
		r := loadgen.Run(ctx, loadgen.Config{
			Clients: int(b.cfg.scaleClients), Duration: b.cfg.scaleDuration,
			Progress: func(done int64, elapsed time.Duration) {
				b.logf("[scale %d/%d] %s: %.0f req/s", i+1, len(queries), q.name, float64(done)/elapsed.Seconds())
			},
		}, func(int64) (*http.Request, error) { return http.NewRequest("GET", target, nil) })
		rep.Queries = append(rep.Queries, scenarioResult{Name: "GET /tickets?" + q.name, Result: r})
	}
	if rep.PeakRSSMB, err = b.stop(svc); err != nil {
		return nil, err
	}
	return rep, nil
}

func postIssue(base string, quantity int) func(int64) (*http.Request, error) {
	body := fmt.Sprintf(`{"theater_name":"CGV 강남","user_id":"bench","movie_title":"영화 제목","price_krw":15000,"quantity":%d,"memo":"VIP석"}`, quantity)
	return func(int64) (*http.Request, error) { return jsonRequest(base+"/tickets/issue", body) }
}

func jsonRequest(target, body string) (*http.Request, error) {
	req, err := http.NewRequest("POST", target, strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	return req, nil
}

func freeLoopbackAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// scrape reads the service's Prometheus metrics as a map from series
// (name{labels}) to value.
func scrape(client *http.Client, base string) (map[string]float64, error) {
	resp, err := client.Get(base + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	series := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
			series[line[:i]] = v
		}
	}
	return series, sc.Err()
}

// histogramDelta returns the per-bucket counts (by upper bound) a histogram
// gained between two scrapes; buckets are not cumulative in the result.
func histogramDelta(before, after map[string]float64, name string) map[string]uint64 {
	type bucket struct {
		le    float64
		label string
		count float64
	}
	var buckets []bucket
	prefix := name + `_bucket{le="`
	for series, v := range after {
		if !strings.HasPrefix(series, prefix) {
			continue
		}
		label := strings.TrimSuffix(strings.TrimPrefix(series, prefix), `"}`)
		le, err := strconv.ParseFloat(label, 64)
		if err != nil {
			continue
		}
		buckets = append(buckets, bucket{le: le, label: label, count: v - before[series]})
	}
	sort.Slice(buckets, func(i, j int) bool { return buckets[i].le < buckets[j].le })
	out := map[string]uint64{}
	prev := 0.0
	for _, bk := range buckets {
		out["le "+bk.label] = uint64(bk.count - prev)
		prev = bk.count
	}
	return out
}

// histogramQuantile estimates quantile q from non-cumulative buckets keyed
// "le X", as the upper bound of the bucket holding it.
// quantilesMS returns the p50 and p99 bucket bounds of a histogram in
// seconds, in milliseconds.
func quantilesMS(buckets map[string]uint64) lagReport {
	return lagReport{P50MS: 1000 * histogramQuantile(buckets, 0.50), P99MS: 1000 * histogramQuantile(buckets, 0.99)}
}

// histogramCount returns how many observations buckets holds.
func histogramCount(buckets map[string]uint64) uint64 {
	var total uint64
	for _, c := range buckets {
		total += c
	}
	return total
}

func histogramQuantile(buckets map[string]uint64, q float64) float64 {
	type bucket struct {
		le    float64
		count uint64
	}
	var bs []bucket
	var total uint64
	for k, c := range buckets {
		le, err := strconv.ParseFloat(strings.TrimPrefix(k, "le "), 64)
		if err != nil {
			continue
		}
		bs = append(bs, bucket{le, c})
		total += c
	}
	if total == 0 {
		return 0
	}
	sort.Slice(bs, func(i, j int) bool { return bs[i].le < bs[j].le })
	var seen uint64
	for _, bk := range bs {
		seen += bk.count
		if float64(seen) >= q*float64(total) {
			return bk.le
		}
	}
	return bs[len(bs)-1].le
}

// machineSummary names the CPU and core count of this machine.
func machineSummary() string {
	model := "unknown CPU"
	if info, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range bytes.Split(info, []byte("\n")) {
			if name, ok := bytes.CutPrefix(line, []byte("model name")); ok {
				model = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(string(name)), ":"))
				break
			}
		}
	}
	return fmt.Sprintf("%s, %d cores", model, runtime.NumCPU())
}

func (r *benchReport) print(w io.Writer) {
	fmt.Fprintf(w, "ticketd bench: %d clients, %s per scenario, on %s\n\n", r.Clients, r.Duration, r.Machine)
	printScenarios(w, r.Scenarios)
	if r.SQLiteIssue != nil {
		s := r.SQLiteIssue
		fmt.Fprintf(w, "%s: %.0f req/s, p99 %.2f ms, %d errors; PostgreSQL / SQLite %.2f×\n", s.Name, s.Result.RPS, ms(s.Result.P99), s.Result.Errors, s.Ratio)
	}
	fmt.Fprintf(w, "\nprojection lag: p50 ≤ %.2f ms, p99 ≤ %.2f ms, %s\n", r.Projection.P50MS, r.Projection.P99MS, r.LagClock)
	if r.AppendLock != nil {
		fmt.Fprintf(w, "append-lock hold (PostgreSQL, per group commit): p50 ≤ %.2f ms, p99 ≤ %.2f ms (histogram bucket bounds)\n", r.AppendLock.P50MS, r.AppendLock.P99MS)
	}
	fmt.Fprintf(w, "group-commit batch sizes (appends per commit): %s\n", formatBuckets(r.BatchSizes))
	fmt.Fprintf(w, "replay (every read model): %d events at %.0f events/s; bare read of the same log %.0f events/s (%.2f×)\n", r.ReplayCount, r.ReplayRate, r.BareReadRate, r.ReplayRate/r.BareReadRate)
	fmt.Fprintf(w, "service peak RSS: %.1f MB\n", r.PeakRSSMB)
	if r.Scale != nil {
		fmt.Fprintf(w, "\nlist queries on %d tickets (%d clients, limit 100, with total):\n", r.Scale.Tickets, r.Scale.Clients)
		printScenarios(w, r.Scale.Queries)
		fmt.Fprintf(w, "service peak RSS with %d tickets: %.1f MB\n", r.Scale.Tickets, r.Scale.PeakRSSMB)
	}
	fmt.Fprintln(w)
	printTargets(w, r.Targets)
	printMissNote(w, r.Targets, r.LoadAverage)
}

func printScenarios(w io.Writer, results []scenarioResult) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\treq/s\tp50 ms\tp99 ms\tmax ms\terrors\tvs baseline\tCPU µs/req\t")
	for _, s := range results {
		ratio := ""
		if s.Ratio > 0 {
			ratio = fmt.Sprintf("%.2f×", s.Ratio)
		}
		r := s.Result
		cpu := ""
		if s.CPUPerRequestUS > 0 {
			cpu = fmt.Sprintf("%.0f", s.CPUPerRequestUS)
		}
		fmt.Fprintf(tw, "%s\t%.0f\t%.2f\t%.2f\t%.2f\t%d\t%s\t%s\t\n", s.Name, r.RPS, ms(r.P50), ms(r.P99), ms(r.Max), r.Errors, ratio, cpu)
	}
	tw.Flush()
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func formatBuckets(b map[string]uint64) string {
	keys := make([]string, 0, len(b))
	for k := range b {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		a, _ := strconv.ParseFloat(strings.TrimPrefix(keys[i], "le "), 64)
		c, _ := strconv.ParseFloat(strings.TrimPrefix(keys[j], "le "), 64)
		return a < c
	})
	var parts []string
	for _, k := range keys {
		if b[k] > 0 {
			parts = append(parts, fmt.Sprintf("%s: %d", strings.Replace(k, "le ", "≤", 1), b[k]))
		}
	}
	return strings.Join(parts, ", ")
}

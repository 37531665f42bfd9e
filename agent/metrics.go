package agent

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// metrics are the agent's Prometheus metrics, written in the text
// exposition format by hand (a handful of counters and summaries do not
// need a client library).
type metrics struct {
	polls, pollErrors  atomic.Int64
	failures           atomic.Int64 // applies that ended StepFailed or GateFailed
	rollbacks          atomic.Int64 // rollbacks started (gate failures, removed plans)
	refusedCommits     atomic.Int64 // head commits the signature policy refused, each once
	mu                 sync.Mutex
	pollSeconds        float64
	head               string
	headAt             time.Time
	stepSeconds        map[string]float64
	stepCount          map[string]int64
	pollLatencyBuckets []float64
	pollLatencyCounts  []int64
}

func newMetrics() *metrics {
	b := []float64{0.01, 0.05, 0.1, 0.5, 1, 5}
	return &metrics{stepSeconds: map[string]float64{}, stepCount: map[string]int64{},
		pollLatencyBuckets: b, pollLatencyCounts: make([]int64, len(b))}
}

func (m *metrics) observePoll(d time.Duration, err error) {
	m.polls.Add(1)
	if err != nil {
		m.pollErrors.Add(1)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.pollSeconds += d.Seconds()
	for i, b := range m.pollLatencyBuckets {
		if d.Seconds() <= b {
			m.pollLatencyCounts[i]++
		}
	}
}

func (m *metrics) setHead(c string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.head, m.headAt = c, time.Now()
}

func (m *metrics) observeStep(step string, d time.Duration) {
	// Rollout steps carry their weight in the name, rolling starts their
	// node; the metric's label is the step's kind, so that label values
	// stay few (start_to:NODE is start_to, as a single Y's start is).
	switch {
	case strings.HasPrefix(step, "start_to:"):
		step = "start_to"
	case strings.HasPrefix(step, "traffic_"), strings.HasPrefix(step, "pause_"):
		step = step[:strings.IndexByte(step, '_')]
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.stepSeconds[step] += d.Seconds()
	m.stepCount[step]++
}

// write renders the metrics; conditions counts plans by condition type.
func (m *metrics) write(w io.Writer, conditions map[string]int, leader bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p := func(format string, a ...any) { fmt.Fprintf(w, format, a...) }
	p("# HELP upshift_polls_total Polls of the plans repository.\n# TYPE upshift_polls_total counter\nupshift_polls_total %d\n", m.polls.Load())
	p("# HELP upshift_poll_errors_total Polls that failed (remote unreachable, auth).\n# TYPE upshift_poll_errors_total counter\nupshift_poll_errors_total %d\n", m.pollErrors.Load())
	p("# HELP upshift_refused_commits_total Head commits refused by the signature policy (--verify-signatures), each counted once.\n# TYPE upshift_refused_commits_total counter\nupshift_refused_commits_total %d\n", m.refusedCommits.Load())
	p("# HELP upshift_poll_duration_seconds Time a poll took.\n# TYPE upshift_poll_duration_seconds histogram\n")
	for i, b := range m.pollLatencyBuckets {
		p("upshift_poll_duration_seconds_bucket{le=\"%g\"} %d\n", b, m.pollLatencyCounts[i])
	}
	p("upshift_poll_duration_seconds_bucket{le=\"+Inf\"} %d\nupshift_poll_duration_seconds_sum %g\nupshift_poll_duration_seconds_count %d\n",
		m.polls.Load(), m.pollSeconds, m.polls.Load())
	p("# HELP upshift_head_commit_info The head commit the desired state comes from.\n# TYPE upshift_head_commit_info gauge\n")
	if m.head != "" {
		p("upshift_head_commit_info{commit=%q} 1\n", m.head)
		p("# HELP upshift_head_commit_timestamp_seconds When the agent accepted the head commit.\n# TYPE upshift_head_commit_timestamp_seconds gauge\nupshift_head_commit_timestamp_seconds %d\n", m.headAt.Unix())
	}
	p("# HELP upshift_plans Plans by condition.\n# TYPE upshift_plans gauge\n")
	for _, c := range []string{"Ready", "Progressing", "Stalled"} {
		p("upshift_plans{condition=%q} %d\n", c, conditions[c])
	}
	p("# HELP upshift_step_duration_seconds Wall time of engine steps, by step kind.\n# TYPE upshift_step_duration_seconds summary\n")
	steps := make([]string, 0, len(m.stepCount))
	for s := range m.stepCount {
		steps = append(steps, s)
	}
	sort.Strings(steps)
	for _, s := range steps {
		p("upshift_step_duration_seconds_sum{step=%q} %g\nupshift_step_duration_seconds_count{step=%q} %d\n", s, m.stepSeconds[s], s, m.stepCount[s])
	}
	p("# HELP upshift_apply_failures_total Applies that ended with a failed step or gate.\n# TYPE upshift_apply_failures_total counter\nupshift_apply_failures_total %d\n", m.failures.Load())
	p("# HELP upshift_rollbacks_total Rollbacks started (failed gates, plans removed while in progress).\n# TYPE upshift_rollbacks_total counter\nupshift_rollbacks_total %d\n", m.rollbacks.Load())
	l := 0
	if leader {
		l = 1
	}
	p("# HELP upshift_leader Whether this agent is the leader that acts.\n# TYPE upshift_leader gauge\nupshift_leader %d\n", l)
}

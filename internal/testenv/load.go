package testenv

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"
)

// Load describes a bounded stream of GET requests from Go's net/http
// client, the "retrying client" of the design's traffic notes: its
// Transport keeps connections alive and retries an idempotent request when
// a reused idle connection turns out closed. Load does no retries of its
// own, so every error it counts is one a real Go client would have seen.
type Load struct {
	URL      string        // requested with GET
	Rate     int           // requests per second across all workers; 200 when 0
	Duration time.Duration // how long to send; 2 s when 0
	Workers  int           // concurrent requests; 8 when 0
	Count    int           // stop after this many requests; no limit when 0
	// Classify names the response's origin (e.g. from a backend header);
	// counted in LoadResult.By. Nil counts every response under "".
	Classify func(*http.Response) string
}

// LoadResult counts what a Load saw.
type LoadResult struct {
	Requests int            // requests sent
	Failed   int            // transport errors and responses with status ≥ 500
	By       map[string]int // successful responses per Classify name
	Errors   []string       // the first few failures, for the test log
	Elapsed  time.Duration
}

// Rate returns the achieved requests per second.
func (r LoadResult) Rate() float64 { return float64(r.Requests) / r.Elapsed.Seconds() }

// LoadProgress lets a caller watch a running load. Its zero value is ready.
type LoadProgress struct {
	mu      sync.Mutex
	done    int
	waiters []progressWaiter
}

type progressWaiter struct {
	n  int
	ch chan struct{}
}

// Done returns how many requests have completed so far.
func (p *LoadProgress) Done() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.done
}

// Reached returns a channel closed once n requests have completed.
func (p *LoadProgress) Reached(n int) <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	ch := make(chan struct{})
	if p.done >= n {
		close(ch)
		return ch
	}
	p.waiters = append(p.waiters, progressWaiter{n, ch})
	return ch
}

func (p *LoadProgress) add() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done++
	keep := p.waiters[:0]
	for _, w := range p.waiters {
		if p.done >= w.n {
			close(w.ch)
		} else {
			keep = append(keep, w)
		}
	}
	p.waiters = keep
}

// Run sends the load and returns its counts. It stops early when ctx ends.
// progress may be nil.
func (l Load) Run(ctx context.Context, progress *LoadProgress) LoadResult {
	if l.Rate == 0 {
		l.Rate = 200
	}
	if l.Duration == 0 {
		l.Duration = 2 * time.Second
	}
	if l.Workers == 0 {
		l.Workers = 8
	}
	if progress == nil {
		progress = &LoadProgress{}
	}
	tr := &http.Transport{MaxIdleConnsPerHost: l.Workers, IdleConnTimeout: 30 * time.Second}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}

	ctx, cancel := context.WithTimeout(ctx, l.Duration)
	defer cancel()
	tokens := make(chan struct{})
	go func() { // paces requests by deadline (a ticker drops ticks under load); stops with ctx
		defer close(tokens)
		begin := time.Now()
		interval := time.Second / time.Duration(l.Rate)
		timer := time.NewTimer(0)
		defer timer.Stop()
		for sent := 0; l.Count == 0 || sent < l.Count; sent++ {
			// Request i is due at begin + i×interval; one that is late
			// goes at once, so the average rate catches up.
			if wait := time.Until(begin.Add(time.Duration(sent) * interval)); wait > 0 {
				timer.Reset(wait)
				select {
				case <-ctx.Done():
					return
				case <-timer.C:
				}
			}
			select {
			case tokens <- struct{}{}:
			case <-ctx.Done():
				return
			}
		}
	}()

	var mu sync.Mutex
	res := LoadResult{By: map[string]int{}}
	record := func(class string, err error) {
		mu.Lock()
		defer mu.Unlock()
		res.Requests++
		if err != nil {
			res.Failed++
			if len(res.Errors) < 10 {
				res.Errors = append(res.Errors, err.Error())
			}
		} else {
			res.By[class]++
		}
		progress.add()
	}
	start := time.Now()
	var wg sync.WaitGroup
	for range l.Workers {
		wg.Go(func() {
			for range tokens {
				// A request in flight when the load ends may finish: it is
				// not cut by ctx, only bounded by the client's timeout.
				class, err := l.get(client)
				record(class, err)
			}
		})
	}
	wg.Wait()
	res.Elapsed = time.Since(start)
	return res
}

func (l Load) get(client *http.Client) (string, error) {
	resp, err := client.Get(l.URL)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return "", fmt.Errorf("read body: %w", err)
	}
	if resp.StatusCode >= 500 {
		return "", fmt.Errorf("status %s", resp.Status)
	}
	if l.Classify == nil {
		return "", nil
	}
	return l.Classify(resp), nil
}

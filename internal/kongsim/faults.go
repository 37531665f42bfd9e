package kongsim

import (
	"errors"
	"net/http"
	"strconv"
	"sync"
)

// Faults are failures injected on demand for reliability tests
// (kong-upgrade-failures.md, fault-injection scenarios). Each switch names
// a listener ("admin", "proxy", "status", or "" for all of them) and how
// many requests it applies to (n < 0: until Clear). Safe for concurrent use.
type Faults struct {
	mu      sync.Mutex
	rules   []*rule
	dbDown  bool
	cfgRej  []configReject
	cfgEmpt int
	dpStuck bool
	rate    routedRate
}

// routedRate is FailRoutedRate's share: every routed request adds fraction
// to due, and one fails whenever due reaches 1, so a fraction of 0.05 fails
// exactly the 20th, 40th, … request (deterministic, no randomness).
type routedRate struct {
	code     int
	fraction float64
	due      float64
}

type rule struct {
	listener string
	kind     string // status, hang, close
	code     int
	left     int
}

type configReject struct {
	code       int
	retryAfter int
}

func newFaults() *Faults { return &Faults{} }

// Fail answers the next n requests on listener with HTTP code and Kong's
// {"message":"An unexpected error occurred"} body.
func (f *Faults) Fail(listener string, code, n int) { f.add(&rule{listener, "status", code, n}) }

// FailRouted makes the proxy answer the next n requests that match a route
// with HTTP code and "An unexpected error occurred", as Kong does when a
// plugin fails at run time. Unlike Fail("proxy", ...), which answers before
// Kong sees the request, these answers go through Kong's log phase, so the
// prometheus plugin counts them (code=<code>, source="kong") and metric
// gates see them.
func (f *Faults) FailRouted(code, n int) { f.add(&rule{"routed", "status", code, n}) }

// FailRoutedRate makes the proxy answer that fraction (0..1) of the
// requests that match a route with HTTP code, the way FailRouted does (the
// prometheus plugin counts them), until Clear or FailRoutedRate(_, 0). The
// share is exact and deterministic: with 0.05, every 20th routed request
// fails. FailRouted's next-n rules are taken first.
func (f *Faults) FailRoutedRate(code int, fraction float64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rate = routedRate{code: code, fraction: min(max(fraction, 0), 1)}
}

// routed is the proxy's RoutedFault hook: the status to answer with, or 0.
func (f *Faults) routed(*http.Request) int {
	if ru := f.take("routed"); ru != nil {
		return ru.code
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.rate.fraction <= 0 {
		return 0
	}
	f.rate.due += f.rate.fraction
	// The small slack keeps float error from skipping a due failure
	// (20 × 0.05 sums to 0.9999…).
	if f.rate.due >= 1-1e-9 {
		f.rate.due--
		return f.rate.code
	}
	return 0
}

// Hang holds the next n requests until the client gives up (the request's
// context ends) or the node stops.
func (f *Faults) Hang(listener string, n int) { f.add(&rule{listener, "hang", 0, n}) }

// CloseConn closes the connection of the next n requests without answering.
func (f *Faults) CloseConn(listener string, n int) { f.add(&rule{listener, "close", 0, n}) }

// SetDatabaseUnreachable makes every database access fail: /status reports
// database.reachable=false, /status/ready "failed to connect to database",
// Admin API reads and writes answer 500 code 8.
func (f *Faults) SetDatabaseUnreachable(down bool) {
	f.mu.Lock()
	f.dbDown = down
	f.mu.Unlock()
}

// RejectConfig makes the next n POST /config answer code (413 or 429, with
// Kong's message; retryAfter seconds in Retry-After for 429) without loading.
func (f *Faults) RejectConfig(code, retryAfter, n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := 0; i < n; i++ {
		f.cfgRej = append(f.cfgRej, configReject{code, retryAfter})
	}
}

// LoadEmptyConfig makes the next n POST /config answer 201 while the node
// ends up with an empty configuration (hash 000…0, never ready).
func (f *Faults) LoadEmptyConfig(n int) {
	f.mu.Lock()
	f.cfgEmpt += n
	f.mu.Unlock()
}

// StickDataPlaneConfig makes a data plane fail to apply every new
// configuration its control plane sends while stuck is true: it keeps
// serving, and reporting the hash of, the one it has (a stale config_hash
// in the control plane's list), as a Kong data plane does when loading a
// configuration fails.
func (f *Faults) StickDataPlaneConfig(stuck bool) {
	f.mu.Lock()
	f.dpStuck = stuck
	f.mu.Unlock()
}

func (f *Faults) dataPlaneStuck() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.dpStuck
}

// Clear removes every fault.
func (f *Faults) Clear() {
	f.mu.Lock()
	f.rules, f.dbDown, f.cfgRej, f.cfgEmpt, f.dpStuck, f.rate = nil, false, nil, 0, false, routedRate{}
	f.mu.Unlock()
}

func (f *Faults) add(r *rule) {
	f.mu.Lock()
	f.rules = append(f.rules, r)
	f.mu.Unlock()
}

var errDBDown = errors.New("connection refused")

func (f *Faults) dbCheck() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.dbDown {
		return errDBDown
	}
	return nil
}

func (f *Faults) dbReachable() bool { return f.dbCheck() == nil }

func (f *Faults) nextConfigReject() (configReject, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.cfgRej) == 0 {
		return configReject{}, false
	}
	r := f.cfgRej[0]
	f.cfgRej = f.cfgRej[1:]
	return r, true
}

func (f *Faults) takeEmptyConfig() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.cfgEmpt > 0 {
		f.cfgEmpt--
		return true
	}
	return false
}

// take returns the rule that applies to this request, consuming one use.
func (f *Faults) take(listener string) *rule {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, r := range f.rules {
		// A rule for "" applies on every listener, but not to the
		// proxy's routed hook, which takes only FailRouted rules.
		if r.listener != listener && (r.listener != "" || listener == "routed") {
			continue
		}
		if r.left > 0 {
			r.left--
			if r.left == 0 {
				f.rules = append(f.rules[:i:i], f.rules[i+1:]...)
			}
		}
		return r
	}
	return nil
}

// intercept applies a fault to the request; true when it answered.
func (f *Faults) intercept(w http.ResponseWriter, r *http.Request, listener string) bool {
	ru := f.take(listener)
	if ru == nil {
		return false
	}
	switch ru.kind {
	case "status":
		writeMessage(w, ru.code, "An unexpected error occurred")
	case "hang":
		<-r.Context().Done()
	case "close":
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			_ = conn.Close()
		}
	}
	return true
}

// wrap applies faults in front of h.
func (f *Faults) wrap(listener string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if f.intercept(w, r, listener) {
			return
		}
		h.ServeHTTP(w, r)
	})
}

func itoa(i int) string { return strconv.Itoa(i) }

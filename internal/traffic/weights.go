package traffic

import (
	"errors"
	"fmt"
)

// Weights is a split of traffic between cluster X (From) and cluster Y
// (To), in percent. A valid split has both in 0–100 and a sum of 100; a
// side at 0 gets no new requests (its in-flight requests finish).
type Weights struct {
	From int `json:"from"`
	To   int `json:"to"`
}

// Validate reports whether w is a valid split.
func (w Weights) Validate() error {
	if w.From < 0 || w.From > 100 || w.To < 0 || w.To > 100 || w.From+w.To != 100 {
		return fmt.Errorf("weights from=%d to=%d: each must be 0-100 and they must sum to 100", w.From, w.To)
	}
	return nil
}

func (w Weights) String() string { return fmt.Sprintf("from %d%% / to %d%%", w.From, w.To) }

// serverWeights splits w across nFrom servers of X and nTo servers of Y so
// that every server of a side gets the same weight and the sides' totals are
// exactly in the ratio From:To: each side's percentage is scaled by the
// least common multiple of the server counts, then both per-server weights
// are divided by their greatest common divisor. A side at 0 gets 0.
func serverWeights(w Weights, nFrom, nTo int) (from, to int, err error) {
	if err := w.Validate(); err != nil {
		return 0, 0, err
	}
	if nFrom < 1 || nTo < 1 {
		return 0, 0, errors.New("each side needs at least one server")
	}
	l := nFrom / gcd(nFrom, nTo) * nTo
	from, to = w.From*(l/nFrom), w.To*(l/nTo)
	g := gcd(from, to) // ≥ 1: from+to > 0
	return from / g, to / g, nil
}

// splitOf turns the sides' total weights back into percent, rounding to the
// nearest whole percent (a split written by this package is exact).
func splitOf(fromTotal, toTotal int) (Weights, error) {
	if fromTotal < 0 || toTotal < 0 || fromTotal+toTotal == 0 {
		return Weights{}, fmt.Errorf("no server takes traffic (from total %d, to total %d)", fromTotal, toTotal)
	}
	sum := fromTotal + toTotal
	f := (200*fromTotal + sum) / (2 * sum) // round half up
	return Weights{From: f, To: 100 - f}, nil
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

package traffic

import "testing"

func TestServerWeightsSplitExactly(t *testing.T) {
	for _, tc := range []struct {
		w          Weights
		nf, nt     int
		wantF, wnT int // per-server weights
	}{
		{Weights{100, 0}, 1, 1, 1, 0},
		{Weights{0, 100}, 1, 1, 0, 1},
		{Weights{90, 10}, 1, 1, 9, 1},
		{Weights{50, 50}, 1, 1, 1, 1},
		{Weights{90, 10}, 3, 2, 6, 1},
		{Weights{33, 67}, 3, 2, 22, 67},
		{Weights{10, 90}, 2, 3, 1, 6},
	} {
		f, to, err := serverWeights(tc.w, tc.nf, tc.nt)
		if err != nil {
			t.Fatalf("%v over %d/%d: %v", tc.w, tc.nf, tc.nt, err)
		}
		if f != tc.wantF || to != tc.wnT {
			t.Errorf("%v over %d/%d: per-server %d/%d, want %d/%d", tc.w, tc.nf, tc.nt, f, to, tc.wantF, tc.wnT)
		}
		// The invariant that matters: the sides' totals are in the ratio
		// From:To exactly.
		if f*tc.nf*tc.w.To != to*tc.nt*tc.w.From {
			t.Errorf("%v over %d/%d: per-server %d/%d, totals %d:%d not in ratio", tc.w, tc.nf, tc.nt, f, to, f*tc.nf, to*tc.nt)
		}
		got, err := splitOf(f*tc.nf, to*tc.nt)
		if err != nil || got != tc.w {
			t.Errorf("%v over %d/%d: read back %v, %v", tc.w, tc.nf, tc.nt, got, err)
		}
	}
}

func TestServerWeightsRefusesInvalid(t *testing.T) {
	for _, w := range []Weights{{-1, 101}, {50, 40}, {101, -1}, {0, 0}} {
		if _, _, err := serverWeights(w, 1, 1); err == nil {
			t.Errorf("%v accepted", w)
		}
	}
	if _, _, err := serverWeights(Weights{50, 50}, 0, 1); err == nil {
		t.Error("a side without servers accepted")
	}
}

func TestSplitOfRoundsAndRefusesEmpty(t *testing.T) {
	if got, _ := splitOf(1, 2); got != (Weights{33, 67}) {
		t.Errorf("1:2 = %v, want 33/67", got)
	}
	if got, _ := splitOf(1, 1); got != (Weights{50, 50}) {
		t.Errorf("1:1 = %v", got)
	}
	if _, err := splitOf(0, 0); err == nil {
		t.Error("0:0 accepted")
	}
}

package main

import "testing"

// TestCountsText: summaries print counts as people write them.
func TestCountsText(t *testing.T) {
	if got := countsText(map[string]int{"3.9.1": 170, "3.8.0": 283}); got != "3.8.0: 283, 3.9.1: 170" {
		t.Errorf("countsText = %q", got)
	}
}

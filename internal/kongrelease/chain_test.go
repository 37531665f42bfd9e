package kongrelease

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestChain(t *testing.T) {
	for _, c := range []struct {
		from, to string
		hybrid   bool
		want     string // the hops, or the error's text
	}{
		{"3.9.0", "3.9.1", false, "3.9.0→3.9.1 patch"},
		{"3.4.2", "3.7.1", false, "3.4.2→3.5.0 next series, 3.5.0→3.6.0 next series, 3.6.0→3.7.1 next series"},
		{"2.7.0", "3.4.2", false, "2.7.0→2.8.0 next series, 2.8.0→3.4.2 LTS to LTS"},
		{"3.3.0.1", "3.10.0.2", false, "3.3.0.1→3.4.0.0 next series, 3.4.0.0→3.10.0.2 LTS to LTS"},
		// Hybrid: an Enterprise 3.1.0.x–3.1.1.2 goes to 3.1.1.3 first (UP015), as a stop or a first hop.
		{"3.0.0.0", "3.2.0.0", true, "3.0.0.0→3.1.1.3 next series, 3.1.1.3→3.2.0.0 next series"},
		{"3.1.0.0", "3.2.0.0", true, "3.1.0.0→3.1.1.3 patch, 3.1.1.3→3.2.0.0 next series"},
		{"3.1.0.0", "3.2.0.0", false, "3.1.0.0→3.2.0.0 next series"},
		{"3.4.2", "3.10.0", false, "Kong never released 3.10 as open source"}, // Kong/kong #13787
		{"3.4.2", "3.15.0.0", false, "unknown Kong version: no 3.15 series"},
		{"3.9.1", "3.8.0", false, "older than 3.9.1"},
		{"3.4.2", "3.9.0.0", false, "moving between editions"},
	} {
		hops, err := Chain(MustParse(c.from), MustParse(c.to), c.hybrid)
		got := ""
		if err != nil {
			got = err.Error()
		}
		var parts []string
		for _, h := range hops {
			parts = append(parts, fmt.Sprintf("%s→%s %s", h.From, h.To, h.Kind))
		}
		if err == nil {
			got = strings.Join(parts, ", ")
			if got != c.want {
				t.Errorf("Chain(%s, %s, %v) = %s, want %s", c.from, c.to, c.hybrid, got, c.want)
			}
		} else if !strings.Contains(got, c.want) {
			t.Errorf("Chain(%s, %s, %v): error %q, want it to say %q", c.from, c.to, c.hybrid, got, c.want)
		}
	}
	if _, err := Chain(MustParse("3.9.1"), MustParse("3.9.1"), false); !errors.Is(err, ErrSameVersion) {
		t.Errorf("Chain(3.9.1, 3.9.1) = %v, want ErrSameVersion", err)
	}
}

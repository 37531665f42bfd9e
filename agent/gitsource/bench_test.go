package gitsource

import (
	"context"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/upshift-dev/upshift/internal/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

// BenchmarkPollUnchanged: an unchanged-remote poll (one refs listing, no
// fetch) against `git ls-remote` of the same branch on the same smart-HTTP
// server, in the same run; it reports the ratio (target ≤ 1×) and the
// fetches made during the timed polls (must be 0).
//
//	go test -run '^$' -bench PollUnchanged ./agent/gitsource/
func BenchmarkPollUnchanged(b *testing.B) {
	g := testenv.GitServer(b)
	g.NewRepo(b, "plans", map[string]string{"plans/a.upshift.hcl": "upgrade \"a\" {}\n"})
	s, err := Open(Config{URL: g.RepoURL("plans"), Path: "plans", Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if _, _, err := s.Poll(ctx); err != nil {
		b.Fatal(err)
	}
	git := testenv.NeedBinary(b, "git", "git")
	fetches := s.Stats().Fetches
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		if _, changed, err := s.Poll(ctx); err != nil || changed {
			b.Fatalf("poll: changed=%v %v", changed, err)
		}
	}
	ours := time.Since(start) / time.Duration(b.N)
	b.StopTimer()
	const peerRuns = 20
	peerStart := time.Now()
	for range peerRuns {
		cmd := exec.Command(git, "ls-remote", g.RepoURL("plans"), "refs/heads/main")
		cmd.Env = append(os.Environ(), g.Env()...)
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("git ls-remote: %v %s", err, out)
		}
	}
	peer := time.Since(peerStart) / peerRuns
	b.ReportMetric(float64(ours.Microseconds())/1000, "ms/poll")
	b.ReportMetric(float64(peer.Microseconds())/1000, "ms/ls-remote")
	b.ReportMetric(float64(ours)/float64(peer), "ratio")
	b.ReportMetric(float64(s.Stats().Fetches-fetches), "fetches")
	b.Logf("unchanged poll %v vs git ls-remote %v: %.2f×; fetches during the polls: %d", ours, peer, float64(ours)/float64(peer), s.Stats().Fetches-fetches)
}

package backup

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/upshift-dev/upshift/internal/kongsim"
)

// bigDeclarative is a Kong-format configuration of n services with a route
// each and n consumers with a key-auth credential each (4n entities).
func bigDeclarative(n int) []byte {
	var b strings.Builder
	b.WriteString("_format_version: \"3.0\"\nservices:\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "- id: %08x-0000-4000-8000-000000000001\n  name: svc-%d\n  host: h%d.internal\n  routes:\n  - id: %08x-0000-4000-8000-000000000002\n    name: r-%d\n    paths: [/s%d]\n", i, i, i, i, i, i)
	}
	b.WriteString("consumers:\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "- id: %08x-0000-4000-8000-000000000003\n  username: user-%d\n  keyauth_credentials:\n  - id: %08x-0000-4000-8000-000000000004\n    key: key-%d\n", i, i, i, i)
	}
	return []byte(b.String())
}

// BenchmarkDeclarative2k measures a DB-less node's backup, verification
// and restore with 2,000 entities, next to the plain Admin API calls they
// are built on, in one run:
//
//	get_config_ms    plain GET /config
//	backup_ms        Backup (GET /config, fingerprint, write, manifest)
//	verify_ms        VerifyDeclarative (digest, decK validation, counts, fingerprint, X's GET /config)
//	ratio_verified   (backup_ms + verify_ms) / get_config_ms
//	post_config_ms   plain POST /config into an empty node
//	restore_ms       RestoreDeclarative into an empty node (digest, read, POST, read back)
//	ratio_restore    restore_ms / post_config_ms
//
// Run: go test -run '^$' -bench Declarative2k -benchtime 3x ./internal/backup/
func BenchmarkDeclarative2k(b *testing.B) {
	ctx := context.Background()
	x := kongClient(b, startSim(b, kongsim.Config{Version: "3.9.1", Database: "off", DeclarativeConfig: bigDeclarative(500)}))
	dir := b.TempDir()
	var sum [5]time.Duration
	timeIt := func(i int, f func() error) {
		start := time.Now()
		if err := f(); err != nil {
			b.Fatal(err)
		}
		sum[i] += time.Since(start)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var conf []byte
		timeIt(0, func() (err error) { conf, err = x.Config(ctx); return err })
		var m *Manifest
		timeIt(1, func() (err error) {
			m, err = Backup(ctx, Options{Admin: x, Dir: dir, Plan: "bench", KongVersion: "3.9.1", Now: func() time.Time { return time.Now().Add(time.Duration(i) * time.Second) }})
			return err
		})
		if m.Fingerprint.Entities() != 2000 {
			b.Fatalf("backup of %d entities, want 2000", m.Fingerprint.Entities())
		}
		timeIt(2, func() error {
			v, err := VerifyDeclarative(ctx, m, x)
			if err == nil && !v.OK {
				err = fmt.Errorf("verification failed: %s", v.Reason)
			}
			return err
		})
		b.StopTimer()
		plain := kongClient(b, startSim(b, kongsim.Config{Version: "3.9.1", Database: "off"}))
		target := kongClient(b, startSim(b, kongsim.Config{Version: "3.9.1", Database: "off"}))
		b.StartTimer()
		timeIt(3, func() error { return plain.PostConfig(ctx, conf) })
		timeIt(4, func() error {
			_, err := RestoreDeclarative(ctx, DeclarativeRestoreOptions{Manifest: m, Target: target})
			return err
		})
	}
	b.StopTimer()
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 / float64(b.N) }
	b.ReportMetric(ms(sum[0]), "get_config_ms")
	b.ReportMetric(ms(sum[1]), "backup_ms")
	b.ReportMetric(ms(sum[2]), "verify_ms")
	b.ReportMetric((ms(sum[1])+ms(sum[2]))/ms(sum[0]), "ratio_verified")
	b.ReportMetric(ms(sum[3]), "post_config_ms")
	b.ReportMetric(ms(sum[4]), "restore_ms")
	b.ReportMetric(ms(sum[4])/ms(sum[3]), "ratio_restore")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkDeckCounts10k is decK's validation alone (DeckCounts: decK's
// shape, JSON schema, file.Get, state.Get) and the archive's fingerprint
// on a 10,000-entity configuration, without a node.
//
// Run: go test -run '^$' -bench DeckCounts10k -benchtime 3x ./internal/backup/
func BenchmarkDeckCounts10k(b *testing.B) {
	ctx := context.Background()
	conf := bigDeclarative(2500)
	var deck, fp time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		counts, err := DeckCounts(ctx, conf, "3.9.1")
		if err != nil {
			b.Fatal(err)
		}
		deck += time.Since(start)
		start = time.Now()
		f, err := FingerprintDeclarative(conf)
		if err != nil {
			b.Fatal(err)
		}
		fp += time.Since(start)
		if f.Entities() != 10000 || countsText(counts) != countsText(f.Counts) {
			b.Fatalf("decK counts %v, fingerprint counts %v", counts, f.Counts)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(deck.Microseconds())/1000/float64(b.N), "deck_validation_ms")
	b.ReportMetric(float64(fp.Microseconds())/1000/float64(b.N), "fingerprint_ms")
	b.ReportMetric(0, "ns/op")
}

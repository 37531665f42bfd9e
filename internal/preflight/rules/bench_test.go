package rules

import (
	"encoding/json"
	"fmt"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/upshift-dev/upshift/internal/kongrelease"
)

// Deck10k is a decK file of n services, each with two routes (one a regex
// without ~) and two plugins: 5n entities (n = 2000: 10,000).
func Deck10k(n int) map[string]any {
	services := make([]any, n)
	for i := range services {
		services[i] = map[string]any{
			"name": fmt.Sprintf("svc-%d", i), "url": "http://127.0.0.1:9",
			"routes": []any{
				map[string]any{"name": fmt.Sprintf("r-%d-a", i), "paths": []any{fmt.Sprintf("/s%d/items/\\d+$", i)}},
				map[string]any{"name": fmt.Sprintf("r-%d-b", i), "paths": []any{fmt.Sprintf("/s%d/plain", i)}},
			},
			"plugins": []any{
				map[string]any{"name": "key-auth", "config": map[string]any{"key_names": []any{"apikey"}}},
				map[string]any{"name": "rate-limiting", "config": map[string]any{"minute": 5, "policy": "local"}},
			},
		}
	}
	return map[string]any{"_format_version": "3.0", "services": services}
}

// BenchmarkDeck10k: the rules of 2.8 → 3.10 on a 10,000-entity decK file,
// parsed from JSON (the live dump's way) and from YAML (lint --deck).
func BenchmarkDeck10k(b *testing.B) {
	raw := Deck10k(2000)
	js, _ := json.Marshal(raw)
	ym, _ := yaml.Marshal(raw)
	from, to := kongrelease.MustParse("2.8.5"), kongrelease.MustParse("3.9.1")
	for _, c := range []struct {
		name string
		data []byte
	}{{"json", js}, {"yaml", ym}} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				ct, err := Parse(c.data)
				if err != nil {
					b.Fatal(err)
				}
				if ct.Entities() != 10000 {
					b.Fatalf("%d entities", ct.Entities())
				}
				fs := Evaluate(&Input{Content: ct, From: from, To: to, Mode: ModeDBLess}, nil)
				if len(fs) < 2000 {
					b.Fatalf("%d findings", len(fs))
				}
			}
		})
	}
}

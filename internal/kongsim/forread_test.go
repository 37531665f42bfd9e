package kongsim

import (
	"context"
	"testing"

	"github.com/kong/go-kong/kong"
)

// TestPluginReadCarriesShorthands: from 3.6, Kong's Admin API returns
// rate-limiting's deprecated flat redis_* fields next to redis.* on reads
// (plugins.ForRead); 3.5 stores and returns only the flat fields.
func TestPluginReadCarriesShorthands(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		version  string
		config   kong.Configuration
		wantFlat bool
		wantNest bool
	}{
		{"3.6.1", kong.Configuration{"minute": 10, "policy": "redis", "redis": map[string]any{"host": "redis.internal"}}, true, true},
		{"3.5.0", kong.Configuration{"minute": 10, "policy": "redis", "redis_host": "redis.internal"}, true, false},
	} {
		db := startNode(t, Config{Version: tc.version, DSN: bootstrapped(t, tc.version)})
		c := client(t, db)
		ctx := context.Background()
		p, err := c.Plugins.Create(ctx, &kong.Plugin{Name: kong.String("rate-limiting"), Config: tc.config})
		if err != nil {
			t.Fatalf("%s: create rate-limiting: %v", tc.version, err)
		}
		got, err := c.Plugins.Get(ctx, p.ID)
		if err != nil {
			t.Fatalf("%s: get plugin: %v", tc.version, err)
		}
		_, flat := got.Config["redis_host"]
		nested, _ := got.Config["redis"].(map[string]any)
		if flat != tc.wantFlat || (nested != nil && nested["host"] == "redis.internal") != tc.wantNest {
			t.Errorf("%s: read config redis_host present=%v redis=%v; want flat=%v nested=%v", tc.version, flat, got.Config["redis"], tc.wantFlat, tc.wantNest)
		}
		if flat && got.Config["redis_host"] != "redis.internal" {
			t.Errorf("%s: redis_host = %v, want redis.internal", tc.version, got.Config["redis_host"])
		}
	}
}

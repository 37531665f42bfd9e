package fleet

import (
	"context"
	"fmt"

	gokong "github.com/kong/go-kong/kong"
)

// SampleKey is the key-auth credential Seed gives the consumer "alice".
const SampleKey = "alice-key"

// Seed creates the sample configuration through a node's Admin API: a
// service "orders" at upstreamURL with a public route /health and a route
// /orders protected by key-auth, and a consumer "alice" with SampleKey.
func Seed(ctx context.Context, adminURL, upstreamURL string) error {
	c, err := gokong.NewClient(&adminURL, nil)
	if err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	svc, err := c.Services.Create(ctx, &gokong.Service{Name: gokong.String("orders"), URL: gokong.String(upstreamURL)})
	if err != nil {
		return fmt.Errorf("seed service: %w", err)
	}
	if _, err := c.Routes.Create(ctx, &gokong.Route{Name: gokong.String("health"), Paths: gokong.StringSlice("/health"), Service: svc}); err != nil {
		return fmt.Errorf("seed route /health: %w", err)
	}
	r, err := c.Routes.Create(ctx, &gokong.Route{Name: gokong.String("orders"), Paths: gokong.StringSlice("/orders"), Service: svc})
	if err != nil {
		return fmt.Errorf("seed route /orders: %w", err)
	}
	if _, err := c.Plugins.Create(ctx, &gokong.Plugin{Name: gokong.String("key-auth"), Route: r}); err != nil {
		return fmt.Errorf("seed key-auth: %w", err)
	}
	cons, err := c.Consumers.Create(ctx, &gokong.Consumer{Username: gokong.String("alice")})
	if err != nil {
		return fmt.Errorf("seed consumer: %w", err)
	}
	if _, err := c.KeyAuths.Create(ctx, cons.ID, &gokong.KeyAuth{Key: gokong.String(SampleKey)}); err != nil {
		return fmt.Errorf("seed key: %w", err)
	}
	return nil
}

// SampleDeclarative is the same sample configuration as a DB-less node's
// declarative configuration (_format_version 3.0), for nodes started with
// kongsim.Config.DeclarativeConfig.
func SampleDeclarative(upstreamURL string) []byte {
	return fmt.Appendf(nil, `_format_version: "3.0"
services:
- name: orders
  url: %s
  routes:
  - name: health
    paths: [/health]
  - name: orders
    paths: [/orders]
    plugins:
    - name: key-auth
consumers:
- username: alice
  keyauth_credentials:
  - key: %s
`, upstreamURL, SampleKey)
}

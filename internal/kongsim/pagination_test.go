package kongsim

import (
	"context"
	"fmt"
	"testing"

	"github.com/google/uuid"
	"github.com/kong/go-kong/kong"
)

// TestPaginationTagsAndPut: size/offset pages, tags with AND (",") and OR
// ("/"), PUT upserts by id and by name, nested credential endpoints.
func TestPaginationTagsAndPut(t *testing.T) {
	ctx := context.Background()
	n := startNode(t, Config{Version: "3.9.1", DSN: bootstrapped(t, "3.9.1")})
	c := client(t, n)
	for i := 0; i < 7; i++ {
		tags := []string{"all"}
		if i%2 == 0 {
			tags = append(tags, "even")
		}
		if i == 3 {
			tags = append(tags, "three")
		}
		if _, err := c.Consumers.Create(ctx, &kong.Consumer{Username: kong.String(fmt.Sprintf("u%d", i)), Tags: kong.StringSlice(tags...)}); err != nil {
			t.Fatal(err)
		}
	}
	seen := 0
	opt := &kong.ListOpt{Size: 3}
	for pages := 1; ; pages++ {
		page, next, err := c.Consumers.List(ctx, opt)
		if err != nil {
			t.Fatal(err)
		}
		seen += len(page)
		if next == nil {
			if pages != 3 {
				t.Fatalf("%d pages, want 3", pages)
			}
			break
		}
		opt = next
	}
	if seen != 7 {
		t.Fatalf("paged %d consumers, want 7", seen)
	}
	count := func(tags []string, all bool) int {
		l, _, err := c.Consumers.List(ctx, &kong.ListOpt{Size: 100, Tags: kong.StringSlice(tags...), MatchAllTags: all})
		if err != nil {
			t.Fatal(err)
		}
		return len(l)
	}
	if got := count([]string{"all", "even"}, true); got != 4 {
		t.Fatalf("tags all,even: %d, want 4", got)
	}
	if got := count([]string{"even", "three"}, false); got != 5 {
		t.Fatalf("tags even/three: %d, want 5", got)
	}

	// PUT creates with the client's id, then replaces.
	id := uuid.NewString()
	s, err := c.Services.Create(ctx, &kong.Service{ID: kong.String(id), Name: kong.String("p"), Host: kong.String("a")})
	if err != nil || *s.ID != id {
		t.Fatalf("create with id: %v %v", s, err)
	}
	s, err = c.Services.Update(ctx, &kong.Service{ID: kong.String(id), Name: kong.String("p"), Host: kong.String("b"), Retries: kong.Int(1)})
	if err != nil || *s.Host != "b" || *s.Retries != 1 {
		t.Fatalf("PATCH: %v %v", s, err)
	}
	req, _ := c.NewRequest("PUT", "/services/"+id, nil, map[string]any{"name": "p", "host": "c"})
	var put kong.Service
	if _, err := c.Do(ctx, req, &put); err != nil || *put.Host != "c" || *put.Retries != 5 {
		t.Fatalf("PUT replace: %v %v", put, err)
	}
	req, _ = c.NewRequest("PUT", "/services/by-name", nil, map[string]any{"host": "d"})
	if _, err := c.Do(ctx, req, &put); err != nil || *put.Name != "by-name" {
		t.Fatalf("PUT by name: %v %v", put, err)
	}
	// Nested credentials: /consumers/{id}/key-auth/{id}.
	u0, err := c.Consumers.Get(ctx, kong.String("u0"))
	if err != nil {
		t.Fatal(err)
	}
	kid := uuid.NewString()
	k, err := c.KeyAuths.Create(ctx, u0.ID, &kong.KeyAuth{ID: kong.String(kid)})
	if err != nil || k.Key == nil || len(*k.Key) == 0 {
		t.Fatalf("key-auth with generated key: %v %v", k, err)
	}
	got, err := c.KeyAuths.Get(ctx, u0.ID, kong.String(kid))
	if err != nil || *got.Key != *k.Key {
		t.Fatalf("GET key-auth: %v %v", got, err)
	}
	u1, _ := c.Consumers.Get(ctx, kong.String("u1"))
	if _, err := c.KeyAuths.Get(ctx, u1.ID, kong.String(kid)); !kong.IsNotFoundErr(err) {
		t.Fatalf("credential under another consumer: %v", err)
	}
	if err := c.Consumers.Delete(ctx, u0.ID); err != nil {
		t.Fatal(err)
	}
	if all, err := c.KeyAuths.ListAll(ctx); err != nil || len(all) != 0 {
		t.Fatalf("credentials not cascaded: %d %v", len(all), err)
	}
}

package store

import (
	"context"
	"testing"

	"github.com/upshift-dev/upshift/internal/kongrelease"
)

// TestUniqueErrors: the uniqueness errors (a unique field, a cache key, a
// composite cache key) are Kong's, the same on PostgreSQL and in memory,
// and follow renames, updates and deletes: Mem answers them from indexes
// that Save and Delete keep (a stale index would refuse a freed name or
// accept a taken one).
func TestUniqueErrors(t *testing.T) {
	for name, mk := range map[string]func(t *testing.T) *Store{
		"pg": pgStore,
		"mem": func(*testing.T) *Store {
			return &Store{Reg: NewRegistry(kongrelease.MustParse("3.8.0")), Backend: NewMem()}
		},
	} {
		t.Run(name, func(t *testing.T) {
			s := mk(t)
			ctx := context.Background()
			svcE, plugE, upE, tgE := s.Reg.ByName("services"), s.Reg.ByName("plugins"), s.Reg.ByName("upstreams"), s.Reg.ByName("targets")
			step := func(what string, err error, want string) {
				t.Helper()
				got := "ok"
				if err != nil {
					got = err.Error()
				}
				if got != want {
					t.Errorf("%s: %s, want %s", what, got, want)
				}
			}
			a, err := s.Insert(ctx, svcE, obj(t, `{"name":"a","host":"h"}`), nil)
			step("insert a", err, "ok")
			_, err = s.Insert(ctx, svcE, obj(t, `{"name":"a","host":"h2"}`), nil)
			step("insert a again", err, `UNIQUE violation detected on '{name="a"}'`)
			_, err = s.Update(ctx, svcE, "a", a, obj(t, `{"host":"h3"}`))
			step("update a keeping its name", err, "ok")
			_, err = s.Update(ctx, svcE, "a", a, obj(t, `{"name":"b"}`))
			step("rename a to b", err, "ok")
			a, err = s.Insert(ctx, svcE, obj(t, `{"name":"a","host":"h"}`), nil)
			step("insert a after the rename", err, "ok")
			if err != nil {
				t.Fatal(err)
			}
			_, err = s.Insert(ctx, svcE, obj(t, `{"name":"b","host":"h"}`), nil)
			step("insert b", err, `UNIQUE violation detected on '{name="b"}'`)
			b, err := s.Lookup(ctx, svcE, "b", nil)
			if err != nil || b == nil {
				t.Fatalf("lookup b: %v %v", b, err)
			}
			step("delete b", s.Delete(ctx, svcE, b), "ok")
			_, err = s.Insert(ctx, svcE, obj(t, `{"name":"b","host":"h"}`), nil)
			step("insert b after its delete", err, "ok")

			// Cache key: one plugin of a name per route/service/consumer.
			svc := &Parent{Field: "service", ID: a["id"].(string)}
			p, err := s.Insert(ctx, plugE, obj(t, `{"name":"key-auth"}`), svc)
			step("key-auth on a", err, "ok")
			if err != nil {
				t.Fatal(err)
			}
			_, err = s.Insert(ctx, plugE, obj(t, `{"name":"key-auth"}`), svc)
			step("key-auth on a again", err, `UNIQUE violation detected on '{consumer=null,name="key-auth",route=null,service={id="`+a["id"].(string)+`"}}'`)
			_, err = s.Insert(ctx, plugE, obj(t, `{"name":"key-auth"}`), nil)
			step("global key-auth", err, "ok")
			step("delete key-auth on a", s.Delete(ctx, plugE, p), "ok")
			_, err = s.Insert(ctx, plugE, obj(t, `{"name":"key-auth"}`), svc)
			step("key-auth on a after its delete", err, "ok")

			// Composite cache key of targets: (upstream, target).
			up, err := s.Insert(ctx, upE, obj(t, `{"name":"up"}`), nil)
			step("upstream", err, "ok")
			upP := &Parent{Field: "upstream", ID: up["id"].(string)}
			_, err = s.Insert(ctx, tgE, obj(t, `{"target":"10.0.0.1:80"}`), upP)
			step("target", err, "ok")
			_, err = s.Insert(ctx, tgE, obj(t, `{"target":"10.0.0.1:80"}`), upP)
			step("target again", err, `UNIQUE violation detected on '{target="10.0.0.1:80",upstream={id="`+up["id"].(string)+`"}}'`)
		})
	}
}

package kongsim

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/upshift-dev/upshift/internal/backup"
	upkong "github.com/upshift-dev/upshift/internal/kong"
)

// adminJSON sends a request with a JSON body to the node's Admin API and
// decodes the answer; want is the expected status.
func adminJSON(t *testing.T, n *Node, method, path string, body any, want int) map[string]any {
	t.Helper()
	var rd *bytes.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	} else {
		rd = bytes.NewReader(nil)
	}
	req, _ := http.NewRequest(method, n.AdminURL()+path, rd)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := decodeJSON(resp.Body, &out); err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	if resp.StatusCode != want {
		t.Fatalf("%s %s: %d %v, want %d", method, path, resp.StatusCode, out, want)
	}
	return out
}

func sqlString(t *testing.T, dsn, q string, args ...any) string {
	t.Helper()
	ctx := context.Background()
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	var s string
	if err := c.QueryRow(ctx, q, args...).Scan(&s); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return s
}

// sameExcept compares two Admin API objects field by field, leaving out
// the fields that differ by construction.
func sameExcept(t *testing.T, kind string, seeded, api map[string]any, skip ...string) {
	t.Helper()
	skip = append(skip, "id", "created_at", "updated_at")
	if len(seeded) != len(api) {
		t.Errorf("%s: seeded has %d fields, the Admin API's %d:\n%v\n%v", kind, len(seeded), len(api), seeded, api)
	}
	for k, v := range api {
		if contains(skip, k) {
			continue
		}
		if !reflect.DeepEqual(seeded[k], v) {
			t.Errorf("%s.%s: seeded %#v, created through the Admin API %#v", kind, k, seeded[k], v)
		}
	}
	for _, k := range []string{"created_at", "updated_at"} {
		if _, ok := api[k]; ok && seeded[k] == nil {
			t.Errorf("%s.%s: seeded has none", kind, k)
		}
	}
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// TestSeedReadBack: seeded entities read back through the Admin API (the
// counts, and one entity of each kind equal field by field to one created
// through the Admin API from the same input, cache_key and ws_id in the
// table included), and a decK dump of the node has the database's
// fingerprint.
func TestSeedReadBack(t *testing.T) {
	ctx := context.Background()
	const v = "3.9.1"
	dsn := bootstrapped(t, v)
	spec := SeedSpec{Services: 30, Routes: 45, Consumers: 40, KeyAuth: 50, RateLimiting: 60, Tags: []string{"seeded"}}
	got, err := Seed(ctx, dsn, v, spec)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{"services": 30, "routes": 45, "consumers": 40, "keyauth_credentials": 50, "plugins": 60}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Seed wrote %v, want %v", got, want)
	}
	n := startNode(t, Config{Version: v, DSN: dsn})
	gk := client(t, n)

	svcs, err := gk.Services.ListAll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	routes, err := gk.Routes.ListAll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cons, err := gk.Consumers.ListAll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := gk.KeyAuths.ListAll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	plugins, err := gk.Plugins.ListAll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(svcs) != 30 || len(routes) != 45 || len(cons) != 40 || len(keys) != 50 || len(plugins) != 60 {
		t.Fatalf("Admin API lists %d services, %d routes, %d consumers, %d key-auths, %d plugins",
			len(svcs), len(routes), len(cons), len(keys), len(plugins))
	}

	// The decK dump of what the node serves has the database's fingerprint
	// (before the Admin API writes below).
	kc, err := upkong.New(upkong.Options{AdminURL: n.AdminURL()})
	if err != nil {
		t.Fatal(err)
	}
	d, err := backup.Dump(ctx, kc)
	if err != nil {
		t.Fatal(err)
	}
	deckFP, err := d.Fingerprint()
	if err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	dbFP, err := backup.FingerprintDB(ctx, conn)
	if err != nil {
		t.Fatal(err)
	}
	if deckFP.Hash != dbFP.Hash || dbFP.Entities() != 225 {
		t.Fatalf("decK dump fingerprint %s %v, database %s %v (want 225 entities)", deckFP.Hash, deckFP.Counts, dbFP.Hash, dbFP.Counts)
	}

	// One of each, seeded, against the same input through the Admin API.
	tags := []any{"seeded"}
	seededSvc := adminJSON(t, n, "GET", "/services/seed-service-000001", nil, 200)
	apiSvc := adminJSON(t, n, "POST", "/services", map[string]any{"name": "api-service", "host": "api-service.internal", "tags": tags}, 201)
	sameExcept(t, "service", seededSvc, apiSvc, "name", "host")

	seededRoute := adminJSON(t, n, "GET", "/routes/seed-route-000001", nil, 200)
	apiRoute := adminJSON(t, n, "POST", "/routes", map[string]any{"name": "api-route", "paths": []string{"/api-route"},
		"service": map[string]any{"id": seededSvc["id"]}, "tags": tags}, 201)
	sameExcept(t, "route", seededRoute, apiRoute, "name", "paths")
	if !reflect.DeepEqual(seededRoute["paths"], []any{"/seed-route-000001"}) {
		t.Errorf("seeded route paths %v", seededRoute["paths"])
	}

	seededCons := adminJSON(t, n, "GET", "/consumers/seed-consumer-000001", nil, 200)
	apiCons := adminJSON(t, n, "POST", "/consumers", map[string]any{"username": "api-consumer", "tags": tags}, 201)
	sameExcept(t, "consumer", seededCons, apiCons, "username")

	seededKeys := adminJSON(t, n, "GET", "/consumers/seed-consumer-000001/key-auth", nil, 200)["data"].([]any)
	if len(seededKeys) != 2 { // 50 credentials over 40 consumers
		t.Fatalf("seed-consumer-000001 has %d key-auth credentials, want 2", len(seededKeys))
	}
	seededKey := seededKeys[0].(map[string]any)
	apiKey := adminJSON(t, n, "POST", "/consumers/api-consumer/key-auth", map[string]any{"tags": tags}, 201)
	sameExcept(t, "key-auth", seededKey, apiKey, "key", "consumer")
	if k, _ := seededKey["key"].(string); len(k) != 32 {
		t.Errorf("seeded key %q: want Kong's 32 hex digits", k)
	}

	var seededPlugin map[string]any
	for _, p := range adminJSON(t, n, "GET", "/consumers/seed-consumer-000001/plugins", nil, 200)["data"].([]any) {
		seededPlugin = p.(map[string]any)
	}
	if seededPlugin == nil {
		t.Fatal("seed-consumer-000001 has no plugin")
	}
	apiPlugin := adminJSON(t, n, "POST", "/consumers/api-consumer/plugins", map[string]any{"name": "rate-limiting",
		"config": map[string]any{"minute": 60, "policy": "local"}, "tags": tags}, 201)
	sameExcept(t, "plugin", seededPlugin, apiPlugin, "consumer")

	// What the Admin API does not show: cache_key and ws_id.
	for _, c := range []struct{ q, seeded, api string }{
		{`SELECT coalesce(replace(cache_key, consumer_id::text, '<consumer>'), 'NULL') || ' ' || coalesce(ws_id::text, 'NULL') FROM plugins WHERE id = $1`,
			seededPlugin["id"].(string), apiPlugin["id"].(string)},
		{`SELECT coalesce(ws_id::text, 'NULL') FROM keyauth_credentials WHERE id = $1`, seededKey["id"].(string), apiKey["id"].(string)},
	} {
		s, a := sqlString(t, dsn, c.q, c.seeded), sqlString(t, dsn, c.q, c.api)
		if s != a || strings.Contains(s, "NULL") {
			t.Errorf("%s: seeded row %q, the Admin API's %q", c.q, s, a)
		}
	}
	if s := sqlString(t, dsn, `SELECT count(DISTINCT ws_id)::text || ' ' || count(*) FILTER (WHERE ws_id IS NULL OR created_at IS NULL OR updated_at IS NULL)::text FROM
		(SELECT ws_id, created_at, updated_at FROM services UNION ALL SELECT ws_id, created_at, updated_at FROM routes
		 UNION ALL SELECT ws_id, created_at, updated_at FROM consumers UNION ALL SELECT ws_id, created_at, updated_at FROM plugins) AS t`); s != "1 0" {
		t.Errorf("distinct ws_id and rows without ws_id or timestamps: %s, want 1 0", s)
	}
}

// TestSeedRefuses: a database that is not bootstrapped, or a second seed
// with the same names, writes nothing.
func TestSeedRefuses(t *testing.T) {
	ctx := context.Background()
	bare := bootstrapped(t, "3.8.0")
	if _, err := Seed(ctx, bare, "3.9.1", SeedSpec{Services: 1}); err == nil || !strings.Contains(err.Error(), "New migrations") {
		t.Fatalf("seeding a 3.8 database as 3.9.1: %v, want Kong's new-migrations refusal", err)
	}
	dsn := bootstrapped(t, "3.9.1")
	if _, err := Seed(ctx, dsn, "3.9.1", SeedSpec{Services: 3, Consumers: 2}); err != nil {
		t.Fatal(err)
	}
	if _, err := Seed(ctx, dsn, "3.9.1", SeedSpec{Services: 2, Consumers: 5, KeyAuth: 5}); err == nil {
		t.Fatal("a second seed with the same prefix succeeded")
	}
	if s := sqlString(t, dsn, `SELECT (SELECT count(*) FROM services) || ' ' || (SELECT count(*) FROM consumers) || ' ' || (SELECT count(*) FROM keyauth_credentials)`); s != "3 2 0" {
		t.Fatalf("after the failed seed: services, consumers, key-auths = %s, want 3 2 0", s)
	}
	if _, err := Seed(ctx, dsn, "3.9.1", SeedSpec{RateLimiting: 1}); err == nil {
		t.Fatal("a rate-limiting plugin without a scope was accepted")
	}
}

// TestSeed100kConsumers seeds 100,000 consumers with a key-auth credential
// each and reports the time (no timed assertion); the counts are read
// back, and the last consumer's key finds it through the Admin API.
func TestSeed100kConsumers(t *testing.T) {
	if testing.Short() {
		t.Skip("seeds 200,000 rows")
	}
	ctx := context.Background()
	dsn := bootstrapped(t, "3.9.1")
	start := time.Now()
	got, err := Seed(ctx, dsn, "3.9.1", SeedSpec{Consumers: 100000, KeyAuth: 100000})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("seeded 100,000 consumers and 100,000 key-auth credentials in %v", time.Since(start).Round(time.Millisecond))
	if got["consumers"] != 100000 || got["keyauth_credentials"] != 100000 {
		t.Fatalf("Seed wrote %v", got)
	}
	if s := sqlString(t, dsn, `SELECT (SELECT count(*) FROM consumers) || ' ' || (SELECT count(DISTINCT consumer_id) FROM keyauth_credentials)`); s != "100000 100000" {
		t.Fatalf("consumers, consumers with a credential = %s", s)
	}
	n := startNode(t, Config{Version: "3.9.1", DSN: dsn})
	key := sqlString(t, dsn, `SELECT key FROM keyauth_credentials k JOIN consumers c ON c.id = k.consumer_id WHERE c.username = 'seed-consumer-100000'`)
	cred := adminJSON(t, n, "GET", "/key-auths/"+key, nil, 200)
	if cons := adminJSON(t, n, "GET", "/consumers/"+cred["consumer"].(map[string]any)["id"].(string), nil, 200); cons["username"] != "seed-consumer-100000" {
		t.Fatalf("key-auth %s belongs to %v", key, cons["username"])
	}
}

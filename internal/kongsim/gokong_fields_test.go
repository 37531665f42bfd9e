package kongsim

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"reflect"
	"sort"
	"testing"
	"time"

	"github.com/kong/go-database-reconciler/pkg/dump"
	"github.com/kong/go-database-reconciler/pkg/file"
	"github.com/kong/go-kong/kong"
)

// notServed lists the go-kong entity fields this cross-check does not
// send, with the reason; every other field must be sent by some entity
// below and come back unchanged.
var notServed = map[string]string{
	"*.CreatedAt": "set by the server", "*.UpdatedAt": "set by the server",
	"Service.URL":                   "a shorthand Kong splits into protocol, host, port and path",
	"Service.TLSSANs":               "Kong 3.10+/Enterprise field, not in kongsim's services schema",
	"Route.Expression":              "expressions router only; not in kongsim's routes schema",
	"Route.Priority":                "expressions router only; not in kongsim's routes schema",
	"Plugin.ConsumerGroup":          "Enterprise",
	"Plugin.RunOn":                  "removed in Kong 2.0",
	"Plugin.Condition":              "Enterprise",
	"Plugin.Ordering":               "Enterprise",
	"Plugin.Partials":               "Enterprise",
	"Upstream.StickySessionsCookie": "Kong 3.11+, not in kongsim's upstreams schema", "Upstream.StickySessionsCookiePath": "Kong 3.11+, not in kongsim's upstreams schema",
	"Target.Failover":     "Enterprise",
	"Certificate.CertAlt": "decK's file format (file.FCertificate) has no cert_alt: a sync cannot carry it",
	"Certificate.KeyAlt":  "decK's file format (file.FCertificate) has no key_alt: a sync cannot carry it",
	"Certificate.SNIs":    "kongsim serves SNIs on /snis only (the dump reads them there; checked as SNI entities)",
}

func keyPair(t *testing.T, cn string) (certPEM, keyPEM, pubPEM string, der []byte) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: cn}, DNSNames: []string{cn},
		NotBefore: time.Unix(0, 0), NotAfter: time.Unix(4102444800, 0), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	der, err = x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	priv, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: priv})),
		string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub})), der
}

// TestGoKongFieldsSurviveSyncAndDump: an independent check of kongsim's
// tables and Admin API against go-kong's entity structs: every field of
// every entity kind kongsim stores (except notServed), set to a value
// other than its default, goes through a decK sync into kongsim on
// PostgreSQL and comes back unchanged in a decK dump.
func TestGoKongFieldsSurviveSyncAndDump(t *testing.T) {
	for _, v := range []string{"3.4.2", "3.9.1"} {
		t.Run(v, func(t *testing.T) { goKongRoundTrip(t, v) })
	}
}

func goKongRoundTrip(t *testing.T, v string) {
	ctx := context.Background()
	n := startNode(t, Config{Version: v, DSN: bootstrapped(t, v)})
	c := client(t, n)
	s, b := kong.String, kong.Bool
	id := func(i int) *string {
		return s("6a1f0c2e-0000-4000-8000-" + hex.EncodeToString([]byte{0, 0, 0, 0, 0, byte(i)}))
	}

	certPEM, keyPEM, _, _ := keyPair(t, "api.example.test")
	caPEM, _, _, caDER := keyPair(t, "ca.example.test")
	_, privPEM, pubPEM, _ := keyPair(t, "jwks")
	digest := sha256.Sum256(caDER)

	cert := &kong.Certificate{ID: id(1), Cert: s(certPEM), Key: s(keyPEM), Tags: kong.StringSlice("edge")}
	sni := &kong.SNI{ID: id(2), Name: s("api.example.test"), Certificate: &kong.Certificate{ID: cert.ID}, Tags: kong.StringSlice("edge")}
	ca := &kong.CACertificate{ID: id(3), Cert: s(caPEM), CertDigest: s(hex.EncodeToString(digest[:])), Tags: kong.StringSlice("pki")}
	svc := &kong.Service{ID: id(4), Name: s("orders"), Protocol: s("https"), Host: s("orders.internal"), Port: kong.Int(8443), Path: s("/v1"),
		Retries: kong.Int(3), ConnectTimeout: kong.Int(1000), ReadTimeout: kong.Int(2000), WriteTimeout: kong.Int(3000), Enabled: b(false),
		ClientCertificate: &kong.Certificate{ID: cert.ID}, TLSVerify: b(true), TLSVerifyDepth: kong.Int(2), CACertificates: []*string{ca.ID},
		Tags: kong.StringSlice("team-a", "prod")}
	rHTTP := &kong.Route{ID: id(5), Name: s("orders-r"), Service: &kong.Service{ID: svc.ID}, Protocols: kong.StringSlice("https"),
		Methods: kong.StringSlice("GET", "POST"), Hosts: kong.StringSlice("api.example.test"), Paths: kong.StringSlice("/orders", "~/orders/[0-9]+$"),
		Headers: map[string][]string{"x-env": {"prod", "stage"}}, HTTPSRedirectStatusCode: kong.Int(301), RegexPriority: kong.Int(7),
		StripPath: b(false), PathHandling: s("v1"), PreserveHost: b(true), RequestBuffering: b(false), ResponseBuffering: b(false),
		SNIs: kong.StringSlice("api.example.test"), Tags: kong.StringSlice("team-a")}
	rTCP := &kong.Route{ID: id(6), Name: s("orders-tcp"), Service: &kong.Service{ID: svc.ID}, Protocols: kong.StringSlice("tcp"),
		Sources:      []*kong.CIDRPort{{IP: s("10.0.0.0/8"), Port: kong.Int(5000)}},
		Destinations: []*kong.CIDRPort{{IP: s("192.168.1.1"), Port: kong.Int(9000)}}}
	alice := &kong.Consumer{ID: id(7), Username: s("alice"), CustomID: s("a-1"), Tags: kong.StringSlice("vip")}
	plugins := []*kong.Plugin{
		{ID: id(8), Name: s("rate-limiting"), InstanceName: s("rl-orders"), Route: &kong.Route{ID: rHTTP.ID}, Protocols: kong.StringSlice("http", "https"),
			Enabled: b(false), Config: kong.Configuration{"minute": float64(20), "policy": "local"}, Tags: kong.StringSlice("limits")},
		{ID: id(9), Name: s("key-auth"), Service: &kong.Service{ID: svc.ID}, Config: kong.Configuration{"key_names": []any{"x-api-key"}}},
		{ID: id(10), Name: s("correlation-id"), Consumer: &kong.Consumer{ID: alice.ID}, Config: kong.Configuration{"header_name": "X-Req"}},
	}
	up := &kong.Upstream{ID: id(11), Name: s("orders.up"), Algorithm: s("consistent-hashing"), Slots: kong.Int(100), HostHeader: s("orders.internal"),
		ClientCertificate: &kong.Certificate{ID: cert.ID}, HashOn: s("header"), HashOnHeader: s("x-user"), HashFallback: s("cookie"),
		HashFallbackHeader: s("x-fallback"), HashOnCookie: s("sess"), HashOnCookiePath: s("/app"), HashOnQueryArg: s("u"),
		HashFallbackQueryArg: s("f"), HashOnURICapture: s("user"), HashFallbackURICapture: s("fb"), UseSrvName: b(true),
		Healthchecks: &kong.Healthcheck{Threshold: kong.Float64(25)}, Tags: kong.StringSlice("team-a")}
	target := &kong.Target{ID: id(12), Target: s("10.0.0.1:8443"), Weight: kong.Int(50), Upstream: &kong.Upstream{ID: up.ID}, Tags: kong.StringSlice("az-a")}
	vault := &kong.Vault{ID: id(13), Name: s("env"), Prefix: s("my-env"), Description: s("env vars"), Config: kong.Configuration{"prefix": "KONG_"}, Tags: kong.StringSlice("secrets")}
	set := &kong.KeySet{ID: id(14), Name: s("jwks"), Tags: kong.StringSlice("auth")}
	keys := []*kong.Key{
		{ID: id(15), Name: s("k-jwk"), KID: s("k1"), Set: &kong.KeySet{ID: set.ID}, JWK: s(`{"kid":"k1","kty":"oct","k":"c2VjcmV0"}`), Tags: kong.StringSlice("auth")},
		{ID: id(16), Name: s("k-pem"), KID: s("k2"), Set: &kong.KeySet{ID: set.ID}, PEM: &kong.PEM{PrivateKey: s(privPEM), PublicKey: s(pubPEM)}},
	}
	keyAuth := &kong.KeyAuth{ID: id(17), Key: s("alice-key"), TTL: kong.Int(86400), Tags: kong.StringSlice("k")}
	basic := &kong.BasicAuth{ID: id(18), Username: s("alice"), Password: s("pw"), Tags: kong.StringSlice("b")}
	hmac := &kong.HMACAuth{ID: id(19), Username: s("alice-h"), Secret: s("s3"), Tags: kong.StringSlice("h")}
	jwt := &kong.JWTAuth{ID: id(20), Key: s("alice-iss"), Algorithm: s("ES256"), RSAPublicKey: s(pubPEM), Secret: s("jwt-secret"), Tags: kong.StringSlice("j")}
	acl := &kong.ACLGroup{ID: id(21), Group: s("buyers"), Tags: kong.StringSlice("a")}
	oauth := &kong.Oauth2Credential{ID: id(22), Name: s("alice-app"), ClientID: s("alice-client"), ClientSecret: s("alice-secret"),
		ClientType: s("public"), HashSecret: b(false), RedirectURIs: kong.StringSlice("https://alice.example.test/cb"), Tags: kong.StringSlice("o")}

	content := &file.Content{
		FormatVersion:  "3.0",
		Certificates:   []file.FCertificate{{ID: cert.ID, Cert: cert.Cert, Key: cert.Key, Tags: cert.Tags, SNIs: []kong.SNI{*sni}}},
		CACertificates: []file.FCACertificate{{CACertificate: *ca}},
		Services:       []file.FService{{Service: *svc, Routes: []*file.FRoute{{Route: *rHTTP}, {Route: *rTCP}}}},
		Consumers: []file.FConsumer{{Consumer: *alice, KeyAuths: []*kong.KeyAuth{keyAuth}, BasicAuths: []*kong.BasicAuth{basic},
			HMACAuths: []*kong.HMACAuth{hmac}, JWTAuths: []*kong.JWTAuth{jwt}, ACLGroups: []*kong.ACLGroup{acl}, Oauth2Creds: []*kong.Oauth2Credential{oauth}}},
		Upstreams: []file.FUpstream{{Upstream: *up, Targets: []*file.FTarget{{Target: *target}}}},
		Vaults:    []file.FVault{{Vault: *vault}},
		KeySets:   []file.FKeySet{{KeySet: *set}},
	}
	for _, p := range plugins {
		content.Plugins = append(content.Plugins, file.FPlugin{Plugin: *p})
	}
	for _, k := range keys {
		content.Keys = append(content.Keys, file.FKey{Key: *k})
	}
	if cr, _, _ := syncContent(t, c, content); cr == 0 {
		t.Fatal("the sync created nothing")
	}
	raw, err := dump.Get(ctx, c, dump.Config{})
	if err != nil {
		t.Fatalf("dump: %v", err)
	}
	// Nested under alice in the file; the dump must carry the reference.
	ref := &kong.Consumer{ID: alice.ID}
	keyAuth.Consumer, basic.Consumer, hmac.Consumer, jwt.Consumer, acl.Consumer, oauth.Consumer = ref, ref, ref, ref, ref, ref

	// Every go-kong field is either sent by some entity or listed.
	sent := map[string]bool{}
	check := func(kind string, want any, got any) {
		t.Helper()
		if reflect.ValueOf(got).IsNil() {
			t.Errorf("%s %s: not in the dump", kind, *reflect.ValueOf(want).Elem().FieldByName("ID").Interface().(*string))
			return
		}
		w, g := reflect.ValueOf(want).Elem(), reflect.ValueOf(got).Elem()
		for i := 0; i < w.NumField(); i++ {
			name := w.Type().Field(i).Name
			if _, skip := notServed["*."+name]; skip {
				continue
			}
			if _, skip := notServed[kind+"."+name]; skip {
				continue
			}
			wf, gf := w.Field(i), g.Field(i)
			if wf.IsZero() {
				continue
			}
			sent[kind+"."+name] = true
			if !sameValue(t, wf, gf) {
				t.Errorf("%s.%s: sent %s, dumped %s", kind, name, asJSON(wf.Interface()), asJSON(gf.Interface()))
			}
		}
	}
	byID := func(xs any, id *string) any {
		l := reflect.ValueOf(xs)
		for i := 0; i < l.Len(); i++ {
			if e := l.Index(i); *e.Elem().FieldByName("ID").Interface().(*string) == *id {
				return e.Interface()
			}
		}
		return reflect.Zero(l.Type().Elem()).Interface()
	}
	check("Certificate", cert, byID(raw.Certificates, cert.ID))
	check("SNI", sni, byID(raw.SNIs, sni.ID))
	check("CACertificate", ca, byID(raw.CACertificates, ca.ID))
	check("Service", svc, byID(raw.Services, svc.ID))
	check("Route", rHTTP, byID(raw.Routes, rHTTP.ID))
	check("Route", rTCP, byID(raw.Routes, rTCP.ID))
	check("Consumer", alice, byID(raw.Consumers, alice.ID))
	for _, p := range plugins {
		check("Plugin", p, byID(raw.Plugins, p.ID))
	}
	check("Upstream", up, byID(raw.Upstreams, up.ID))
	check("Target", target, byID(raw.Targets, target.ID))
	check("Vault", vault, byID(raw.Vaults, vault.ID))
	check("KeySet", set, byID(raw.KeySets, set.ID))
	for _, k := range keys {
		check("Key", k, byID(raw.Keys, k.ID))
	}
	check("KeyAuth", keyAuth, byID(raw.KeyAuths, keyAuth.ID))
	var gotBasic *kong.BasicAuth
	for _, x := range raw.BasicAuths {
		if *x.ID == *basic.ID {
			gotBasic = &x.BasicAuth
		}
	}
	check("BasicAuth", basic, gotBasic)
	check("HMACAuth", hmac, byID(raw.HMACAuths, hmac.ID))
	check("JWTAuth", jwt, byID(raw.JWTAuths, jwt.ID))
	check("ACLGroup", acl, byID(raw.ACLGroups, acl.ID))
	check("Oauth2Credential", oauth, byID(raw.Oauth2Creds, oauth.ID))

	var missing []string
	for kind, x := range map[string]any{"Certificate": kong.Certificate{}, "SNI": kong.SNI{}, "CACertificate": kong.CACertificate{},
		"Service": kong.Service{}, "Route": kong.Route{}, "Consumer": kong.Consumer{}, "Plugin": kong.Plugin{}, "Upstream": kong.Upstream{},
		"Target": kong.Target{}, "Vault": kong.Vault{}, "KeySet": kong.KeySet{}, "Key": kong.Key{}, "KeyAuth": kong.KeyAuth{},
		"BasicAuth": kong.BasicAuth{}, "HMACAuth": kong.HMACAuth{}, "JWTAuth": kong.JWTAuth{}, "ACLGroup": kong.ACLGroup{},
		"Oauth2Credential": kong.Oauth2Credential{}} {
		ty := reflect.TypeOf(x)
		for i := 0; i < ty.NumField(); i++ {
			name := ty.Field(i).Name
			_, s1 := notServed["*."+name]
			_, s2 := notServed[kind+"."+name]
			if !s1 && !s2 && !sent[kind+"."+name] {
				missing = append(missing, kind+"."+name)
			}
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("go-kong fields neither sent nor listed in notServed: %v", missing)
	}
}

// sameValue compares a sent field with the dumped one: a foreign entity
// by its ID; a plugin config and upstream healthchecks as a subset (the
// server fills defaults); anything else as JSON.
func sameValue(t *testing.T, want, got reflect.Value) bool {
	t.Helper()
	if want.Kind() == reflect.Ptr && want.Elem().Kind() == reflect.Struct {
		if f := want.Elem().FieldByName("ID"); f.IsValid() && f.Type() == reflect.TypeOf((*string)(nil)) && want.Type() != reflect.TypeOf(&kong.Healthcheck{}) {
			if got.IsNil() {
				return false
			}
			return *f.Interface().(*string) == *got.Elem().FieldByName("ID").Interface().(*string)
		}
	}
	var w, g any
	if err := json.Unmarshal([]byte(asJSON(want.Interface())), &w); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(asJSON(got.Interface())), &g); err != nil {
		t.Fatal(err)
	}
	return subset(w, g)
}

// subset reports whether every member of want (at every depth) is in got
// with the same value; arrays must be equal.
func subset(want, got any) bool {
	wm, ok := want.(map[string]any)
	if !ok {
		return reflect.DeepEqual(want, got)
	}
	gm, ok := got.(map[string]any)
	if !ok {
		return false
	}
	for k, v := range wm {
		if !subset(v, gm[k]) {
			return false
		}
	}
	return true
}

func asJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

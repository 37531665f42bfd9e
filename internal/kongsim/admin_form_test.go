package kongsim

import (
	"bytes"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
)

// send makes one Admin API request and decodes its JSON answer.
func send(t *testing.T, method, u, contentType string, body []byte) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, u, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	var m map[string]any
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatalf("%s %s: %d %q: %v", method, u, res.StatusCode, raw, err)
		}
	}
	return res.StatusCode, m
}

// postForm sends pairs form-encoded, in order (repeated keys allowed).
func postForm(t *testing.T, method, u string, pairs ...string) (int, map[string]any) {
	t.Helper()
	var parts []string
	for i := 0; i+1 < len(pairs); i += 2 {
		parts = append(parts, url.QueryEscape(pairs[i])+"="+url.QueryEscape(pairs[i+1]))
	}
	return send(t, method, u, "application/x-www-form-urlencoded", []byte(strings.Join(parts, "&")))
}

// postMultipart sends pairs as multipart/form-data fields, as curl -F does.
func postMultipart(t *testing.T, method, u string, pairs ...string) (int, map[string]any) {
	t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	for i := 0; i+1 < len(pairs); i += 2 {
		if err := mw.WriteField(pairs[i], pairs[i+1]); err != nil {
			t.Fatal(err)
		}
	}
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	return send(t, method, u, mw.FormDataContentType(), b.Bytes())
}

func wantStatus(t *testing.T, what string, got, want int, body map[string]any) {
	t.Helper()
	if got != want {
		t.Fatalf("%s: status %d, want %d: %v", what, got, want, body)
	}
}

// wantFields checks fields of an entity read back as JSON.
func wantFields(t *testing.T, what string, obj map[string]any, want map[string]any) {
	t.Helper()
	for k, w := range want {
		got := obj[k]
		if sub, ok := w.(map[string]any); ok {
			m, _ := got.(map[string]any)
			wantFields(t, what+"."+k, m, sub)
			continue
		}
		if !reflect.DeepEqual(got, w) {
			t.Errorf("%s: %s = %#v, want %#v", what, k, got, w)
		}
	}
}

// TestFormBodies creates services, routes, plugins and consumers with
// form-encoded and multipart bodies using Kong's nested keys, and reads
// each entity back as JSON: numbers, booleans and arrays come out typed
// by the schema (K: kong/api/arguments.lua).
func TestFormBodies(t *testing.T) {
	for _, v := range []string{"3.4.2", "3.9.1"} {
		t.Run(v, func(t *testing.T) {
			n := startNode(t, Config{Version: v, DSN: bootstrapped(t, v)})
			admin := n.AdminURL()
			get := func(path string) map[string]any {
				t.Helper()
				code, obj := send(t, http.MethodGet, admin+path, "", nil)
				wantStatus(t, "GET "+path, code, http.StatusOK, obj)
				return obj
			}

			// curl -X POST :8001/services -d name=orders -d url=...
			code, body := postForm(t, "POST", admin+"/services", "name", "orders", "url", "http://orders.internal:8080/v1",
				"retries", "3", "enabled", "false", "tags[]", "a", "tags[]", "b", "connect_timeout", "0x10")
			wantStatus(t, "form POST /services", code, http.StatusCreated, body)
			svc := get("/services/orders")
			wantFields(t, "service", svc, map[string]any{"host": "orders.internal", "port": 8080.0, "path": "/v1", "retries": 3.0,
				"enabled": false, "tags": []any{"a", "b"}, "connect_timeout": 16.0})

			// A single paths=/x is an array; protocols[n] and hosts[] too.
			code, body = postForm(t, "POST", admin+"/services/orders/routes", "name", "r1", "paths", "/x",
				"protocols[1]", "http", "protocols[2]", "https", "hosts[]", "a.example", "hosts[]", "b.example",
				"strip_path", "false", "regex_priority", "5", "headers.x-env", "prod")
			wantStatus(t, "form POST /services/orders/routes", code, http.StatusCreated, body)
			wantFields(t, "route", get("/routes/r1"), map[string]any{"paths": []any{"/x"}, "protocols": []any{"http", "https"},
				"hosts": []any{"a.example", "b.example"}, "strip_path": false, "regex_priority": 5.0,
				"headers": map[string]any{"x-env": []any{"prod"}}, "service": map[string]any{"id": svc["id"]}})

			// service.id=… is the foreign key.
			code, body = postForm(t, "POST", admin+"/routes", "name", "r2", "paths[]", "/y", "service.id", svc["id"].(string))
			wantStatus(t, "form POST /routes", code, http.StatusCreated, body)
			wantFields(t, "route r2", get("/routes/r2"), map[string]any{"paths": []any{"/y"}, "service": map[string]any{"id": svc["id"]}})

			// config.minute=5 is an integer, config.fault_tolerant=false a boolean.
			code, plugin := postForm(t, "POST", admin+"/services/orders/plugins", "name", "rate-limiting",
				"config.minute", "5", "config.hour", "100", "config.policy", "local", "config.fault_tolerant", "false", "enabled", "true")
			wantStatus(t, "form POST /services/orders/plugins", code, http.StatusCreated, plugin)
			wantFields(t, "rate-limiting", get("/plugins/"+plugin["id"].(string)), map[string]any{"enabled": true,
				"service": map[string]any{"id": svc["id"]},
				"config":  map[string]any{"minute": 5.0, "hour": 100.0, "policy": "local", "fault_tolerant": false}})
			// A PATCH without name: the config follows the stored plugin's schema.
			code, body = postForm(t, "PATCH", admin+"/plugins/"+plugin["id"].(string), "config.minute", "7")
			wantStatus(t, "form PATCH /plugins/{id}", code, http.StatusOK, body)
			wantFields(t, "patched rate-limiting", get("/plugins/"+plugin["id"].(string)), map[string]any{
				"config": map[string]any{"minute": 7.0, "hour": 100.0}})
			// A value that is not a number stays a string, for the schema to refuse.
			code, body = postForm(t, "POST", admin+"/plugins", "name", "rate-limiting", "config.minute", "five", "route.id", get("/routes/r2")["id"].(string))
			wantStatus(t, "form POST bad minute", code, http.StatusBadRequest, body)
			wantFields(t, "bad minute", body, map[string]any{"fields": map[string]any{"config": map[string]any{"minute": "expected a number"}}})

			code, body = postForm(t, "POST", admin+"/consumers", "username", "alice", "custom_id", "c-1", "tags", "gold")
			wantStatus(t, "form POST /consumers", code, http.StatusCreated, body)
			wantFields(t, "consumer", get("/consumers/alice"), map[string]any{"custom_id": "c-1", "tags": []any{"gold"}})
			// Credentials as Kong's docs create them: curl -d key=... -d ttl=...
			code, body = postForm(t, "POST", admin+"/consumers/alice/key-auth", "key", "alice-secret", "ttl", "3600")
			wantStatus(t, "form POST /consumers/alice/key-auth", code, http.StatusCreated, body)
			wantFields(t, "key-auth credential", get("/key-auths/alice-secret"), map[string]any{"ttl": 3600.0})
			code, body = postForm(t, "PUT", admin+"/consumers/alice/acls/"+"7b0b1c1e-5a4e-4c1e-9d2a-6f0e1f7a9b10", "group", "gold", "tags[1]", "x")
			wantStatus(t, "form PUT /consumers/alice/acls/{id}", code, http.StatusOK, body)
			wantFields(t, "acl", body, map[string]any{"group": "gold", "tags": []any{"x"}})

			// multipart/form-data (curl -F), the same keys.
			code, body = postMultipart(t, "POST", admin+"/services", "name", "mp", "host", "mp.internal", "port", "9090", "enabled", "true")
			wantStatus(t, "multipart POST /services", code, http.StatusCreated, body)
			wantFields(t, "multipart service", get("/services/mp"), map[string]any{"port": 9090.0, "enabled": true})
			code, body = postMultipart(t, "POST", admin+"/services/mp/routes", "name", "mr", "paths[1]", "/m", "paths[2]", "/n", "preserve_host", "true")
			wantStatus(t, "multipart POST /routes", code, http.StatusCreated, body)
			wantFields(t, "multipart route", get("/routes/mr"), map[string]any{"paths": []any{"/m", "/n"}, "preserve_host": true})
			code, body = postMultipart(t, "POST", admin+"/consumers", "username", "bob", "tags[1]", "t")
			wantStatus(t, "multipart POST /consumers", code, http.StatusCreated, body)
			wantFields(t, "multipart consumer", get("/consumers/bob"), map[string]any{"tags": []any{"t"}})
			code, body = postMultipart(t, "POST", admin+"/routes/mr/plugins", "name", "key-auth",
				"config.key_names[1]", "apikey", "config.key_names[2]", "x-key", "config.hide_credentials", "true")
			wantStatus(t, "multipart POST /routes/mr/plugins", code, http.StatusCreated, body)
			wantFields(t, "multipart key-auth", get("/plugins/"+body["id"].(string)), map[string]any{
				"config": map[string]any{"key_names": []any{"apikey", "x-key"}, "hide_credentials": true}})

			// Map keys in brackets are Kong ≥3.8's syntax; before, the
			// whole name is one unknown field.
			code, body = postForm(t, "POST", admin+"/routes", "name", "r3", "paths", "/z", "headers[x-env]", "dev")
			if v == "3.4.2" {
				wantStatus(t, "headers[x-env] on 3.4", code, http.StatusBadRequest, body)
				wantFields(t, "headers[x-env] on 3.4", body, map[string]any{"fields": map[string]any{"headers[x-env]": "unknown field"}})
			} else {
				wantStatus(t, "headers[x-env]", code, http.StatusCreated, body)
				wantFields(t, "headers[x-env]", get("/routes/r3"), map[string]any{"headers": map[string]any{"x-env": []any{"dev"}}})
			}

			// More than 1000 arguments: 400 Too many arguments.
			many := make([]string, 0, 2004)
			for i := 0; i < 1002; i++ {
				many = append(many, "tags[]", "t")
			}
			code, body = postForm(t, "POST", admin+"/consumers", many...)
			wantStatus(t, "1002 arguments", code, http.StatusBadRequest, body)
			wantFields(t, "1002 arguments", body, map[string]any{"message": "Too many arguments"})
		})
	}
}

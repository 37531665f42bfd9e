package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

func TestUsageErrors(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"--dsn", "postgres://kong:secret@127.0.0.1/kong"}, &out, &errb); code != 2 ||
		!strings.Contains(errb.String(), "must not embed a password") {
		t.Fatalf("password in DSN: exit %d, %q", code, errb.String())
	}
	errb.Reset()
	if code := run([]string{"--version", "3.x"}, &out, &errb); code != 1 || !strings.Contains(errb.String(), "invalid Kong version") {
		t.Fatalf("bad version: exit %d, %q", code, errb.String())
	}
	errb.Reset()
	if code := run([]string{"--role", "data_plane", "--dsn", "postgres://kong@127.0.0.1/kong"}, &out, &errb); code != 1 ||
		!strings.Contains(errb.String(), `only in-memory storage can be used when role = "data_plane"`) {
		t.Fatalf("DP with a database: exit %d, %q", code, errb.String())
	}
}

// TestPluginsSetting: --plugins (and KONG_PLUGINS, its default) reaches the
// node: GET / lists the custom plugin in available_on_server.
func TestPluginsSetting(t *testing.T) {
	for _, c := range []struct {
		name, env string
		args      []string
	}{
		{"flag", "", []string{"--plugins", "bundled,my-auth"}},
		{"env", "bundled, my-auth", nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv("KONG_PLUGINS", c.env)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			pr, pw := io.Pipe()
			done := make(chan int, 1)
			args := append([]string{"--version", "3.9.1", "--admin-listen", "127.0.0.1:0", "--proxy-listen", "", "--status-listen", ""}, c.args...)
			go func() {
				code := runUntil(ctx, args, pw, io.Discard)
				pw.Close()
				done <- code
			}()
			var urls map[string]string
			if err := json.NewDecoder(pr).Decode(&urls); err != nil {
				t.Fatalf("startup line: %v", err)
			}
			go func() { _, _ = io.Copy(io.Discard, pr) }()
			res, err := http.Get(urls["admin"] + "/")
			if err != nil {
				t.Fatal(err)
			}
			var root struct {
				Plugins struct {
					Available map[string]any `json:"available_on_server"`
				} `json:"plugins"`
			}
			err = json.NewDecoder(res.Body).Decode(&root)
			res.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := root.Plugins.Available["my-auth"]; !ok {
				t.Errorf("available_on_server lacks my-auth: %v", root.Plugins.Available)
			}
			if _, ok := root.Plugins.Available["key-auth"]; !ok {
				t.Errorf("available_on_server lacks the bundled key-auth")
			}
			cancel()
			if code := <-done; code != 0 {
				t.Fatalf("exit %d", code)
			}
		})
	}
}

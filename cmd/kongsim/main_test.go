package main

import (
	"bytes"
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

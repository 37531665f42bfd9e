package main

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/upshift-dev/upshift/agent"
	"github.com/upshift-dev/upshift/internal/engine"
)

// noSource is a plans repository that never answers: the control API
// needs only the journal.
type noSource struct{}

func (noSource) Poll(context.Context) (agent.Snapshot, bool, error) {
	return agent.Snapshot{}, false, context.Canceled
}
func (noSource) FilesAt(context.Context, string) (map[string][]byte, error) { return nil, nil }

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// TestControlCommands: upshift approve|pause|resume|abort against an
// agent's HTTP API on a journal whose run waits at the decommission gate:
// approve of another item is refused (exit 1, the agent's reason),
// approve decommission is journaled with --by and --reason, pause twice
// is refused the second time, resume, abort; a wrong token is 401 and
// never appears in the agent's log; an unknown plan is 404; an agent
// without an admin token answers 403; a cross-site POST (the page's
// buttons from another origin) is refused before the token is looked at.
func TestControlCommands(t *testing.T) {
	ctx := context.Background()
	store, err := engine.OpenDir(t.TempDir(), engine.DirOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	for _, r := range []engine.Record{
		{Plan: "prod", Kind: engine.KindEvent, Event: engine.EventRunStarted, Details: map[string]string{"digest": "d1", "cluster": "c"}},
		{Plan: "prod", Kind: engine.KindEvent, Event: engine.EventAwaitingApproval, Details: map[string]string{"step": "decommission", "approve": "decommission", "listed": ""}},
	} {
		if _, err := store.Append(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	var logs syncBuf
	const token = "s3cret-admin-token-xyz"
	a, err := agent.New(agent.Config{Source: noSource{}, Store: store, Holder: "agent t", AdminToken: token,
		Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a.Handler())
	defer srv.Close()
	t.Setenv("UPSHIFT_ADMIN_TOKEN", token)
	t.Setenv("WRONG_TOKEN", "not-the-token-123")

	run := func(args ...string) (int, string, string) {
		var out, errOut bytes.Buffer
		code := Main(ctx, args, &streams{In: strings.NewReader(""), Out: &out, Err: &errOut})
		return code, out.String(), errOut.String()
	}
	common := []string{"--agent", srv.URL, "--plan", "prod", "--by", "alice"}
	for _, c := range []struct {
		args       []string
		code       int
		out, inErr string
	}{
		{[]string{"approve", "finish", "--reason", "r"}, exitFail, "", "not waiting for approval of \"finish\""},
		{[]string{"pause", "--reason", "r", "--token-env", "WRONG_TOKEN"}, exitFail, "", "rejected the admin token (401)"},
		{[]string{"pause"}, exitUsage, "", "--reason TEXT is required"},
		{[]string{"approve", "decommission", "--reason", "checked the dashboards"}, exitOK, "approved decommission by alice: checked the dashboards", ""},
		{[]string{"approve", "decommission", "--reason", "again"}, exitFail, "", "already approved by alice"},
		{[]string{"pause", "--reason", "incident 42"}, exitOK, "paused by alice: incident 42", ""},
		{[]string{"pause", "--reason", "again"}, exitFail, "", "already paused (by alice"},
		{[]string{"resume", "--reason", "incident over"}, exitOK, "resumed by alice", ""},
		{[]string{"resume", "--reason", "again"}, exitFail, "", "is not paused"},
		{[]string{"abort", "--reason", "errors on Y"}, exitOK, "abort requested by alice: errors on Y", ""},
		{[]string{"abort", "--reason", "again"}, exitFail, "", "already rolling back"},
	} {
		code, out, errOut := run(append(c.args, common...)...)
		if code != c.code || !strings.Contains(out, c.out) || !strings.Contains(errOut, c.inErr) {
			t.Errorf("upshift %s: exit %d (want %d)\nstdout: %s\nstderr: %s", strings.Join(c.args, " "), code, c.code, out, errOut)
		}
	}
	if code, _, errOut := run("pause", "--agent", srv.URL, "--plan", "nope", "--reason", "r"); code != exitFail || !strings.Contains(errOut, "(404)") {
		t.Errorf("pause of an unknown plan: exit %d: %s", code, errOut)
	}
	if l := logs.String(); strings.Contains(l, "not-the-token") || strings.Contains(l, token) || !strings.Contains(l, "wrong or missing admin token") {
		t.Errorf("agent log shows a token, or not the refusal:\n%s", l)
	}
	// The journal holds each action with who, why and when.
	recs, err := store.Records(ctx, "prod", 0)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range recs[2:] {
		if r.Time.IsZero() {
			t.Errorf("record without time: %+v", r)
		}
		got = append(got, r.Event+":"+r.Details["by"]+":"+r.Details["reason"])
	}
	want := "approved:alice:checked the dashboards paused:alice:incident 42 resumed:alice:incident over abort_requested:alice:errors on Y"
	if strings.Join(got, " ") != want {
		t.Errorf("journal: %q\nwant %q", strings.Join(got, " "), want)
	}

	// Cross-site: a page on another origin posting with the token is
	// refused (a browser sends Origin and Sec-Fetch-Site).
	for _, h := range []map[string]string{{"Origin": "http://evil.example"}, {"Sec-Fetch-Site": "cross-site"}} {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/api/v1/plans/prod/pause", strings.NewReader(`{"reason":"x","by":"mallory"}`))
		req.Header.Set("Authorization", "Bearer "+token)
		for k, v := range h {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("cross-site POST %v: %s, want 403", h, resp.Status)
		}
	}
	// The page's own POST (same origin) passes the check.
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/api/v1/plans/prod/approve", strings.NewReader(`{"item":"x","reason":"x"}`))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Origin", srv.URL)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusConflict { // validated by the journal: rolling back
		t.Errorf("same-origin POST: %s, want 409", resp.Status)
	}

	// An agent without an admin token refuses every control.
	b, _ := agent.New(agent.Config{Source: noSource{}, Store: store, Holder: "agent u"})
	srv2 := httptest.NewServer(b.Handler())
	defer srv2.Close()
	if code, _, errOut := run("pause", "--agent", srv2.URL, "--plan", "prod", "--reason", "r"); code != exitFail || !strings.Contains(errOut, "(403)") || !strings.Contains(errOut, "--admin-token-env") {
		t.Errorf("pause on an agent without a token: exit %d: %s", code, errOut)
	}
}

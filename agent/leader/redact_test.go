package leader

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/upshift-dev/upshift/internal/testenv"
)

// echoServer speaks just enough of the PostgreSQL protocol to ask for a
// cleartext password and refuse it with a FATAL error that quotes the
// password back, as a careless server or proxy might. got receives every
// password it was sent, so a test can tell the password really travelled
// into the error path.
type echoServer struct {
	port int
	got  chan string
}

func startEchoServer(t *testing.T) *echoServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &echoServer{port: ln.Addr().(*net.TCPAddr).Port, got: make(chan string, 16)}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() { s.serve(c) })
		}
	})
	return s
}

func (s *echoServer) serve(c net.Conn) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	be := pgproto3.NewBackend(c, c)
	msg, err := be.ReceiveStartupMessage()
	for err == nil {
		if _, ssl := msg.(*pgproto3.SSLRequest); !ssl {
			break
		}
		if _, err = c.Write([]byte("N")); err == nil {
			msg, err = be.ReceiveStartupMessage()
		}
	}
	start, ok := msg.(*pgproto3.StartupMessage)
	if err != nil || !ok {
		return
	}
	be.Send(&pgproto3.AuthenticationCleartextPassword{})
	if be.Flush() != nil || be.SetAuthType(pgproto3.AuthTypeCleartextPassword) != nil {
		return
	}
	m, err := be.Receive()
	pw, ok := m.(*pgproto3.PasswordMessage)
	if err != nil || !ok {
		return
	}
	s.got <- pw.Password
	be.Send(&pgproto3.ErrorResponse{
		Severity: "FATAL", SeverityUnlocalized: "FATAL", Code: "28P01",
		Message: fmt.Sprintf("password authentication failed for user %q (password %q, connection postgres://%s:%s@host/db)",
			start.Parameters["user"], pw.Password, start.Parameters["user"], pw.Password),
	})
	_ = be.Flush()
}

func TestPasswordNeverInErrorsOrLogs(t *testing.T) {
	srv := startEchoServer(t)
	pgpass := filepath.Join(t.TempDir(), "pgpass")
	for _, tc := range []struct {
		name, dsn, password string
		env                 map[string]string
	}{
		{name: "in a URL DSN", password: "pw-in-url-7c1",
			dsn: fmt.Sprintf("postgres://agent:pw-in-url-7c1@127.0.0.1:%d/db?sslmode=disable", srv.port)},
		{name: "in a key=value DSN", password: "pw-in-kv-5f3",
			dsn: fmt.Sprintf("host=127.0.0.1 port=%d user=agent password=pw-in-kv-5f3 dbname=db sslmode=disable", srv.port)},
		{name: "from PGPASSWORD", password: "pw-from-env-9d2",
			dsn: fmt.Sprintf("postgres://agent@127.0.0.1:%d/db?sslmode=disable", srv.port),
			env: map[string]string{"PGPASSWORD": "pw-from-env-9d2"}},
		{name: "from a pgpass file", password: "pw-from-pgpass-4e8",
			dsn: fmt.Sprintf("postgres://agent@127.0.0.1:%d/db?sslmode=disable", srv.port),
			env: map[string]string{"PGPASSFILE": pgpass, "PGPASSWORD": ""}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := os.WriteFile(pgpass, fmt.Appendf(nil, "127.0.0.1:%d:db:agent:pw-from-pgpass-4e8\n", srv.port), 0o600); err != nil {
				t.Fatal(err)
			}
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			logs := &syncBuffer{}
			cfg := Config{DSN: tc.dsn, ID: "a", Check: fast, Logger: slog.New(slog.NewTextHandler(logs, nil))}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			err := Run(ctx, cfg, func(context.Context) { t.Error("led without a database") })
			if err == nil {
				t.Fatal("Run returned nil; want the refused password as a fatal error")
			}
			select {
			case got := <-srv.got:
				if got != tc.password {
					t.Fatalf("server received password %q, want %q", got, tc.password)
				}
			default:
				t.Fatal("the server never received the password, so the test proves nothing")
			}
			if le := asError(t, err); le.Code != "28P01" || le.Op != "connect" {
				t.Errorf("error op %q code %q, want connect 28P01", le.Op, le.Code)
			}
			e, nerr := New(cfg)
			if nerr != nil {
				t.Fatal(nerr)
			}
			_, lerr := e.Leader(ctx)
			<-srv.got
			for what, text := range map[string]string{"Run's error": err.Error(), "Leader's error": fmt.Sprint(lerr), "log": logs.String()} {
				if strings.Contains(text, tc.password) {
					t.Errorf("%s holds the password: %s", what, text)
				}
			}
			if !strings.Contains(err.Error(), redacted) || !strings.Contains(err.Error(), "password authentication failed") {
				t.Errorf("error %q lost the server's message or the redaction mark", err)
			}
			t.Logf("error: %v", err)
		})
	}
}

func TestUnparsableDSNWithoutPassword(t *testing.T) {
	for _, dsn := range []string{
		"postgres://agent:pw-bad-1a2@127.0.0.1:notaport/db",
		"postgres://agent:pw-bad-1a2@127.0.0.1:5432/db?sslmode=bogus",
		"host=127.0.0.1 port=x password=pw-bad-1a2",
		"host=127.0.0.1 password='pw-bad-1a2",
	} {
		_, err := New(Config{DSN: dsn})
		if err == nil {
			t.Errorf("New accepted %q", dsn)
			continue
		}
		asError(t, err)
		if strings.Contains(err.Error(), "pw-bad-1a2") {
			t.Errorf("error holds the password: %v", err)
		}
		rerr := Run(context.Background(), Config{DSN: dsn}, func(context.Context) {})
		if rerr == nil || strings.Contains(rerr.Error(), "pw-bad-1a2") {
			t.Errorf("Run: %v", rerr)
		}
	}
}

func TestUnreachableServerRetriedWithoutPassword(t *testing.T) {
	port := testenv.FreePort(t) // nothing listens there
	logs := &syncBuffer{}
	e, err := New(Config{
		DSN: fmt.Sprintf("postgres://agent:pw-unreach-8b3@127.0.0.1:%d/db?sslmode=disable", port),
		ID:  "a", Check: fast, Logger: slog.New(slog.NewTextHandler(logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx, func(context.Context) { t.Error("led without a database") }) }()
	waitFor(t, 10*time.Second, "two logged retries", func() bool { return strings.Count(logs.String(), "retrying") >= 2 })
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run = %v after its context ended, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
	_, lerr := e.Leader(context.Background())
	if lerr == nil {
		t.Fatal("Leader reached a server that is not there")
	}
	if le := asError(t, lerr); le.Code != "" || !strings.Contains(le.Target, fmt.Sprint(port)) {
		t.Errorf("Leader error code %q target %q", le.Code, le.Target)
	}
	for what, text := range map[string]string{"Leader's error": lerr.Error(), "log": logs.String()} {
		if strings.Contains(text, "pw-unreach-8b3") {
			t.Errorf("%s holds the password: %s", what, text)
		}
	}
}

func TestScrubbedErrorKeepsSentinelsOnly(t *testing.T) {
	s := scrubber{secrets: []string{"s3cret"}, target: "u@h:1/db"}
	orig := fmt.Errorf("read: %w", errors.Join(io.EOF, &pgconn.PgError{Code: "28P01", Message: "bad password s3cret"}))
	err := s.wrap("connect", orig)
	if strings.Contains(err.Error(), "s3cret") || !strings.Contains(err.Error(), redacted) {
		t.Errorf("text %q", err)
	}
	if !errors.Is(err, io.EOF) {
		t.Error("errors.Is lost io.EOF")
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		t.Errorf("errors.As reached the unscrubbed %v", pgErr)
	}
	if asError(t, err).Code != "28P01" {
		t.Errorf("code %q", asError(t, err).Code)
	}
	if got := s.text("dial postgres://u:other@h/db"); strings.Contains(got, "other") {
		t.Errorf("URL password kept: %s", got)
	}
}

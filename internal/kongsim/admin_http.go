package kongsim

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/upshift-dev/upshift/internal/kongsim/internal/store"
)

// writeJSON writes a JSON body with Kong's content type.
func writeJSON(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	if body == nil {
		return
	}
	_ = json.NewEncoder(w).Encode(body)
}

// writeMessage writes Kong's {"message": "..."} body.
func writeMessage(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]any{"message": msg})
}

// writeErr renders a store error as Kong's Admin API does; a database
// error (code 8) and any other error are logged and answered 500
// {"message":"An unexpected error occurred"} (K: kong/api/api_helpers.lua
// new_db_on_error, kong/api/endpoints.lua handle_error).
func (n *Node) writeErr(w http.ResponseWriter, err error) {
	var e *store.Error
	if as(err, &e) && e.Code != store.CodeDatabase {
		writeJSON(w, e.Status(), e.Body())
		return
	}
	n.log.Error("admin API error", "err", err)
	writeMessage(w, http.StatusInternalServerError, "An unexpected error occurred")
}

// bodyAllowed is Kong's before_filter: a PUT, POST or PATCH with a body
// must be JSON, multipart or form-encoded, else 415 (K: kong/api/api_helpers.lua).
func bodyAllowed(r *http.Request) bool {
	switch r.Method {
	case http.MethodPut, http.MethodPost, http.MethodPatch:
	default:
		return true
	}
	ct := strings.ToLower(r.Header.Get("Content-Type"))
	if ct == "" {
		return true
	}
	for _, ok := range []string{"application/json", "multipart/form-data", "application/x-www-form-urlencoded"} {
		if strings.HasPrefix(ct, ok) {
			return true
		}
	}
	return false
}

// readBody decodes a JSON request body; an empty body is {} (the Status
// API's POST /status/ready; entity bodies go through readArgs).
func readBody(r *http.Request) (map[string]any, bool) {
	b, err := io.ReadAll(io.LimitReader(r.Body, 64<<20))
	if err != nil {
		return nil, false
	}
	if len(strings.TrimSpace(string(b))) == 0 {
		return map[string]any{}, true
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, false
	}
	if m == nil {
		m = map[string]any{}
	}
	return m, true
}

// adminHeaders wraps the Admin API with Kong's response headers:
// Server: kong/<version> and X-Kong-Admin-Latency (K: kong/api/init.lua).
// Kong-Admin-Token is ignored, as open-source Kong does.
func (n *Node) adminHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		lw := &latencyWriter{ResponseWriter: w, start: start}
		w.Header().Set("Server", "kong/"+n.version.String())
		h.ServeHTTP(lw, r)
	})
}

type latencyWriter struct {
	http.ResponseWriter
	start   time.Time
	written bool
}

func (l *latencyWriter) WriteHeader(code int) {
	if !l.written {
		l.written = true
		l.Header().Set("X-Kong-Admin-Latency", strconv.FormatInt(time.Since(l.start).Milliseconds(), 10))
	}
	l.ResponseWriter.WriteHeader(code)
}

func (l *latencyWriter) Write(b []byte) (int, error) {
	if !l.written {
		l.WriteHeader(http.StatusOK)
	}
	return l.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer (the
// close-connection fault hijacks it).
func (l *latencyWriter) Unwrap() http.ResponseWriter { return l.ResponseWriter }

// parseSize reads ?size= (K: kong/api/endpoints.lua: default 100, max 1000).
func parseSize(r *http.Request) (int, error) {
	s := r.URL.Query().Get("size")
	if s == "" {
		return 100, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, store.InvalidSize("size must be a number")
	}
	if f != float64(int(f)) || f < 1 || f > 1000 {
		return 0, store.InvalidSize("size must be an integer between 1 and 1000")
	}
	return int(f), nil
}
